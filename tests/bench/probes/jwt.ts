// Probe: the runtime + loading the key + signing the App JWT with the project's jwt.ts.
import { signAppJwt } from "../../../generator/src/core/jwt.ts";
import { loadPrivateKeyFile } from "../../../generator/src/core/private-key.ts";

const key = loadPrivateKeyFile(process.env.PRIVATE_KEY_FILE!);
signAppJwt("1", key.key, Date.now());
key.wipe();
