// Probe: the runtime + loading the App's key (node:crypto's createPrivateKey, private-key.ts).
import { loadPrivateKeyFile } from "../../../generator/src/core/private-key.ts";

loadPrivateKeyFile(process.env.PRIVATE_KEY_FILE!).wipe();
