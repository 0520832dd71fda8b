// Probe, for comparison: the same signature through the whole `jsonwebtoken` package (sign,
// verify, decode and their dependencies): what jwt.ts's deep import avoids.
import jwt from "jsonwebtoken";
import { loadPrivateKeyFile } from "../../../generator/src/core/private-key.ts";

const key = loadPrivateKeyFile(process.env.PRIVATE_KEY_FILE!);
const now = Math.floor(Date.now() / 1000);
jwt.sign({ iat: now - 60, exp: now + 540, iss: "1" }, key.key, { algorithm: "RS256" });
key.wipe();
