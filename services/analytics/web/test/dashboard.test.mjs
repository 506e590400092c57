// The dashboard in headless Chromium (Debian's, driven by playwright-core)
// against the running analytics service: the page loads with the health
// commission's client certificate and no console error, every panel's table
// and chart show exactly what the JSON API answers for the same request
// (asked again here, independently), suppressed cells are shown as
// "suppressed" and left out of the charts, and a screenshot is saved.
//
// Environment: ANALYTICS_PORT, FROM, TO, CERT, KEY, CA, SCREENSHOT,
// EXPECT_SUPPRESSED (a panel that must show at least one suppressed cell).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import { chromium } from 'playwright-core';

function env(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`dashboard test: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

const port = Number(env('ANALYTICS_PORT'));
const tls = { cert: fs.readFileSync(env('CERT')), key: fs.readFileSync(env('KEY')),
              ca: fs.readFileSync(env('CA')) };

function api(path, body) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: 'localhost', port, path, method: 'POST', ...tls,
                                headers: { 'Content-Type': 'application/json' } }, (res) => {
      let data = '';
      res.on('data', (chunk) => { data += chunk; });
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(data))
                                                  : reject(new Error(`${res.statusCode} ${data}`))));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

// What a panel must show for an API answer: label, table text, chart value.
function expected(path, answer) {
  if (path === '/v1/indicator') {
    return (answer.rates || []).map((r) => {
      const label = (r.keys || []).length > 0 ? r.keys.join(' → ') : (r.period || 'all');
      if (r.suppressed) return { label, text: 'suppressed', value: null };
      const pct = Math.round(r.value * 1000) / 10;
      return { label, text: `${pct.toFixed(1)} (${r.numerator}/${r.denominator})`, value: pct };
    });
  }
  return (answer.cells || []).map((c) => {
    const label = (c.keys || []).length > 0 ? c.keys.join(' → ') : (c.period || 'all');
    if (c.suppressed) return { label, text: 'suppressed', value: null };
    return { label, text: String(Number(c.count)), value: Number(c.count) };
  });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let failed = false;
try {
  const origin = `https://localhost:${port}`;
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,  // the development CA is not the browser's; TLS is tested elsewhere
    clientCertificates: [{ origin, certPath: env('CERT'), keyPath: env('KEY') }],
    viewport: { width: 1400, height: 1200 },
  });
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${origin}/?from=${env('FROM')}&to=${env('TO')}`);
  await page.waitForSelector('body[data-loaded]', { timeout: 30000 });
  assert.equal(await page.getAttribute('body', 'data-loaded'), 'true',
               await page.textContent('#status'));
  const requests = await page.evaluate(() => window.meridianDashboard.requests);
  const panels = Object.keys(requests);
  assert.equal(panels.length, 9, 'every panel asked the API');
  let suppressedSeen = 0;
  for (const id of panels) {
    const { path, body } = requests[id];
    const want = expected(path, await api(path, body));
    const table = await page.$$eval(`[data-panel="${id}"] table tr`, (rows) => rows.map((r) => ({
      label: r.dataset.label, text: r.cells[1] ? r.cells[1].textContent : r.textContent,
      suppressed: r.dataset.suppressed === 'true', empty: r.className === 'empty' })));
    const chart = await page.evaluate((p) => {
      const c = window.meridianDashboard.charts[p];
      return { labels: c.data.labels, data: c.data.datasets[0].data };
    }, id);
    if (want.length === 0) {
      assert.ok(table.length === 1 && table[0].empty, `${id}: says there is no data`);
      continue;
    }
    assert.deepEqual(table.map((r) => ({ label: r.label, text: r.text })),
                     want.map((w) => ({ label: w.label, text: w.text })), `${id}: table`);
    assert.deepEqual(chart.data, want.map((w) => w.value), `${id}: chart values`);
    want.forEach((w, i) => {
      if (w.value === null) {
        suppressedSeen += 1;
        assert.ok(table[i].suppressed, `${id}: ${w.label} marked suppressed`);
        assert.ok(chart.labels[i].endsWith('(suppressed)'), `${id}: chart label says suppressed`);
      }
    });
    if (id === process.env.EXPECT_SUPPRESSED) {
      assert.ok(want.some((w) => w.value === null), `${id}: has a suppressed cell`);
    }
    console.log(`dashboard test: ${id}: ${want.length} cells as the API answers`);
  }
  assert.ok(suppressedSeen > 0, 'some suppressed cell was shown');
  assert.deepEqual(errors, [], `console errors: ${errors.join('; ')}`);
  await page.screenshot({ path: env('SCREENSHOT'), fullPage: true });
  console.log(`dashboard test: screenshot ${env('SCREENSHOT')}`);
} catch (e) {
  failed = true;
  console.error(`dashboard test: FAILED: ${e.message}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
