// Probe, for comparison: the same logger built from the whole `winston` package (its index loads
// every transport, creates a default logger and a container): what logger.ts's deep imports avoid.
import winston from "winston";

const logger = winston.createLogger({
  level: "info",
  format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
  transports: [new winston.transports.Console({ stderrLevels: ["error", "warn", "info", "debug"] })],
});
logger.info("token written", { path: "/dev/null", installation_id: 1 });
logger.end();
