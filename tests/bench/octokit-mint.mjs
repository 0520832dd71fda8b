// The anchor for `npm run bench`: the same job (installation token into a 0600 file) done the way
// actions/create-github-app-token does it, with @octokit/auth-app on Node.
import { createAppAuth } from "@octokit/auth-app";
import { request } from "@octokit/request";
import { readFileSync, writeFileSync } from "node:fs";

const auth = createAppAuth({
  appId: process.env.APP_ID,
  privateKey: readFileSync(process.env.PRIVATE_KEY_FILE, "utf8"),
  request: request.defaults({ baseUrl: process.env.GITHUB_API_URL }),
});
const { token } = await auth({ type: "installation", installationId: Number(process.env.INSTALLATION_ID) });
writeFileSync(process.env.OUTPUT_PATH, token, { mode: 0o600 });
