// Probe: the runtime + one request through ky to the simulator (GET /, answered without auth).
import ky from "ky";

await ky.get(`${process.env.GITHUB_API_URL}/`, { throwHttpErrors: false }).text();
