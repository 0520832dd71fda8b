// Probe: the runtime + the project's logger (core/logger.ts) writing one JSON line, as a mint does.
import { createLogger } from "../../../generator/src/core/logger.ts";

const logger = createLogger("info", { correlation_id: "probe" });
logger.info("token written", { path: "/dev/null", installation_id: 1 });
await logger.flush();
