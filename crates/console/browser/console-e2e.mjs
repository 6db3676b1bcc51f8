// Browser tests of the console in Debian's headless Chromium, driven by playwright-core.
// Run by `cargo test -p mailmoat --test console` (browser_* test), which starts a gateway with
// its console, sends the messages and passes their ids here:
//   MM_URL, MM_ADMIN_PASSWORD, MM_ALICE_PASSWORD, MM_PHISH_ID (alice's held phishing),
//   MM_BOB_ID and MM_BOB_SUBJECT (bob's held message), MM_MALWARE_ID (a refused program),
//   MM_SHOTS (a folder for the dashboard and report screenshots).
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env("MM_URL");
const shots = env("MM_SHOTS");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});

async function signIn(name, password) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const scriptErrors = [];
  page.on("pageerror", (e) => scriptErrors.push(e));
  await page.goto(`${base}/login`);
  await page.fill("#name", name);
  await page.fill("#password", password);
  await Promise.all([page.waitForNavigation(), page.click("#signin")]);
  assert.ok(!page.url().endsWith("/login"), `${name} is signed in (at ${page.url()})`);
  return { context, page, scriptErrors };
}

let failures = 0;
async function test(name, body) {
  try {
    await body();
    console.log(`ok - ${name}`);
  } catch (e) {
    failures += 1;
    console.log(`not ok - ${name}\n${e.stack || e}`);
  }
}

await test("an administrator signs in, sees the dashboard and a phishing report with its images", async () => {
  const { context, page } = await signIn("admin", env("MM_ADMIN_PASSWORD"));
  assert.match(page.url(), /\/dashboard$/);
  assert.ok(Number(await page.textContent("#total-messages")) >= 3, "messages counted");
  assert.equal(await page.locator("svg.chart").count(), 2, "two charts");
  await page.screenshot({ path: `${shots}/console-dashboard.png`, fullPage: true });

  await page.goto(`${base}/quarantine`);
  await Promise.all([page.waitForNavigation(), page.click(`#held-${env("MM_PHISH_ID")} a.report-link`)]);
  assert.equal(await page.textContent("#risk"), "high risk");
  const findings = await page.textContent("#findings");
  assert.match(findings, /HTML_CREDENTIAL_FORM/);
  assert.match(findings, /What to do|block/);
  await page.screenshot({ path: `${shots}/console-report.png`, fullPage: true });

  await page.goto(`${base}/messages/${env("MM_MALWARE_ID")}`);
  assert.match(await page.textContent("#findings"), /invoice\.zip > invoice\.js/);
  assert.match(await page.textContent("#findings"), /SIMILAR_KNOWN_MALWARE/);
  const map = page.locator("img.neighbours").first();
  await map.waitFor();
  assert.ok(await map.evaluate((img) => img.complete && img.naturalWidth > 0), "the neighbour map loads");
  const plot = page.locator("img.byteplot").first();
  await plot.waitFor();
  const width = await plot.evaluate((img) => img.complete && img.naturalWidth);
  assert.ok(width > 0, "the byte plot image loads");
  await page.screenshot({ path: `${shots}/console-malware-report.png`, fullPage: true });
  await context.close();
});

await test("a user releases a held message from the quarantine", async () => {
  const { context, page } = await signIn("alice", env("MM_ALICE_PASSWORD"));
  assert.match(page.url(), /\/quarantine$/, "users land on their quarantine");
  const row = page.locator(`#held-${env("MM_PHISH_ID")}`);
  await row.waitFor();
  await Promise.all([page.waitForNavigation(), row.locator("button.release").click()]);
  assert.match(await page.textContent("#notice"), /released to alice@corp\.example/);
  assert.equal(await page.locator(`#held-${env("MM_PHISH_ID")}`).count(), 0, "no longer held");
  await context.close();
});

await test("a user cannot see another user's quarantine", async () => {
  const { context, page } = await signIn("alice", env("MM_ALICE_PASSWORD"));
  const list = await page.textContent("#quarantine");
  assert.ok(!list.includes(env("MM_BOB_SUBJECT")), "bob's message is not listed");
  assert.equal(await page.locator(`#held-${env("MM_BOB_ID")}`).count(), 0);
  const direct = await page.goto(`${base}/messages/${env("MM_BOB_ID")}`);
  assert.equal(direct.status(), 404, "bob's report by its address");
  const api = await page.request.get(`${base}/api/v1/messages/${env("MM_BOB_ID")}`);
  assert.equal(api.status(), 404, "bob's report through the API with alice's session");
  const release = await page.request.post(`${base}/quarantine/${env("MM_BOB_ID")}/release`, { form: { csrf: "x" } });
  assert.notEqual(release.status(), 303, "no release of bob's message");
  assert.equal((await page.goto(`${base}/dashboard`)).status(), 403);
  await context.close();
});

await test("pages run no script at all", async () => {
  const { context, page, scriptErrors } = await signIn("admin", env("MM_ADMIN_PASSWORD"));
  const csp = (await page.goto(`${base}/messages/${env("MM_BOB_ID")}`)).headers()["content-security-policy"];
  assert.match(csp, /default-src 'none'/);
  assert.equal(await page.evaluate(() => document.scripts.length), 0);
  assert.deepEqual(scriptErrors, []);
  await context.close();
});

await browser.close();
if (failures) {
  console.log(`${failures} browser test(s) failed`);
  process.exit(1);
}
console.log("all browser tests passed");
