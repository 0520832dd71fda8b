// Types for the deep imports core/logger.ts, core/jwt.ts and token/metrics.ts use (winston,
// logform, jsonwebtoken and prom-client type only their package index): each piece is typed as
// the index types that export.
declare module "winston/lib/winston/create-logger.js" {
  import type { Logger, LoggerOptions } from "winston";
  const createLogger: (options?: LoggerOptions) => Logger;
  export default createLogger;
}
declare module "winston/lib/winston/transports/stream.js" {
  import type { transports } from "winston";
  const Stream: typeof transports.Stream;
  export default Stream;
}
declare module "logform/format.js" {
  import type { format } from "logform";
  const create: typeof format;
  export default create;
}
declare module "logform/combine.js" {
  import type { format } from "logform";
  const combine: typeof format.combine;
  export default combine;
}
declare module "logform/json.js" {
  import type { format } from "logform";
  const json: typeof format.json;
  export default json;
}
declare module "logform/timestamp.js" {
  import type { format } from "logform";
  const timestamp: typeof format.timestamp;
  export default timestamp;
}
declare module "logform/printf.js" {
  import type { format } from "logform";
  const printf: typeof format.printf;
  export default printf;
}
declare module "jsonwebtoken/sign.js" {
  import type { sign } from "jsonwebtoken";
  const signJwt: typeof sign;
  export default signJwt;
}
declare module "prom-client/lib/registry.js" {
  import type { Registry } from "prom-client";
  const RegistryClass: typeof Registry;
  export default RegistryClass;
}
declare module "prom-client/lib/counter.js" {
  import type { Counter } from "prom-client";
  const CounterClass: typeof Counter;
  export default CounterClass;
}
declare module "prom-client/lib/gauge.js" {
  import type { Gauge } from "prom-client";
  const GaugeClass: typeof Gauge;
  export default GaugeClass;
}
declare module "prom-client/lib/histogram.js" {
  import type { Histogram } from "prom-client";
  const HistogramClass: typeof Histogram;
  export default HistogramClass;
}
declare module "prom-client/lib/defaultMetrics.js" {
  import type { collectDefaultMetrics } from "prom-client";
  const collect: typeof collectDefaultMetrics;
  export default collect;
}
