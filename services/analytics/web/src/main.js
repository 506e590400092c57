// The health authority's dashboard: asks the analytics service's JSON API
// (same origin, the browser's client certificate) and draws what it answers
// with Chart.js. Suppressed cells are never drawn as numbers: they are
// marked "suppressed" in each panel's table and left out of its chart.
import {
  BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController,
  LineElement, PointElement, Tooltip,
} from 'chart.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController,
               LineElement, PointElement, Tooltip, Legend);

const PANELS = [
  {
    id: 'encounters-trend', chart: 'line', api: 'query',
    request: { measure: 'ENCOUNTERS', period: 'MONTH' },
    label: (c) => c.period,
  },
  {
    id: 'encounters-district', chart: 'bar', api: 'query',
    request: { measure: 'ENCOUNTERS', groupBy: ['DISTRICT'] },
  },
  {
    id: 'encounters-institution', chart: 'bar', api: 'query',
    request: { measure: 'ENCOUNTERS', groupBy: ['INSTITUTION'] },
  },
  {
    id: 'top-diagnoses', chart: 'bar', horizontal: true, api: 'query',
    request: { measure: 'DIAGNOSES', groupBy: ['CODE'], limit: 10 },
  },
  {
    id: 'antibiotic-rate', chart: 'bar', api: 'indicator', percent: true,
    request: { indicator: 'ANTIBIOTIC_PRESCRIPTION_RATE', groupBy: ['INSTITUTION'] },
  },
  {
    id: 'lab-abnormal-rate', chart: 'bar', api: 'indicator', percent: true,
    request: { indicator: 'LAB_ABNORMAL_RATE', groupBy: ['INSTITUTION'] },
  },
  {
    id: 'hypertension-prevalence', chart: 'bar', api: 'indicator', percent: true,
    request: { indicator: 'HYPERTENSION_PREVALENCE', groupBy: ['SEX'] },
  },
  {
    id: 'referral-flows', chart: 'bar', horizontal: true, api: 'query',
    request: { measure: 'REFERRALS', groupBy: ['INSTITUTION_TYPE', 'CODE_GROUP'] },
  },
  {
    id: 'cross-institution-reads', chart: 'bar', api: 'query',
    request: { measure: 'CROSS_INSTITUTION_READS', groupBy: ['INSTITUTION_TYPE'] },
  },
];

// A cell's name: its grouped values ("secondary_hospital → tertiary_hospital"
// for a flow), else its period.
function labelOf(keys, period) {
  return keys && keys.length > 0 ? keys.join(' → ') : (period || 'all');
}

// What each panel shows, for anyone (and the browser test) to read back.
const shown = {};
const requests = {};
const charts = {};
window.meridianDashboard = { shown, requests, charts, ready: null };

function isoDay(d) { return d.toISOString().slice(0, 10); }

// The last twelve whole months, this one included: whole months are
// answered from the monthly rollups.
function defaultRange() {
  const params = new URLSearchParams(window.location.search);
  // The region's calendar (UTC+8), whatever the browser's time zone.
  const now = new Date(Date.now() + 8 * 3600 * 1000);
  const from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 11, 1));
  const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 0));
  return { from: params.get('from') || isoDay(from), to: params.get('to') || isoDay(to) };
}

async function post(path, body) {
  const res = await fetch(path, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${json.code}: ${json.message}`);
  return json;
}

// One row per cell or rate: label, value (null when suppressed) and the text
// the table shows.
function rowsOf(panel, answer) {
  if (panel.api === 'indicator') {
    return (answer.rates || []).map((r) => {
      const label = labelOf(r.keys, r.period);
      if (r.suppressed) return { label, value: null, text: 'suppressed' };
      const value = Math.round(Number(r.value) * 1000) / 10;
      return { label, value, text: `${value.toFixed(1)} (${r.numerator}/${r.denominator})` };
    });
  }
  return (answer.cells || []).map((c) => {
    const label = panel.label ? panel.label(c) : labelOf(c.keys, c.period);
    if (c.suppressed) return { label, value: null, text: 'suppressed' };
    const value = Number(c.count);
    return { label, value, text: String(value) };
  });
}

function renderTable(table, rows) {
  table.replaceChildren();
  if (rows.length === 0) {
    const tr = table.insertRow();
    tr.insertCell().textContent = 'no data in this range';
    tr.className = 'empty';
    return;
  }
  for (const r of rows) {
    const tr = table.insertRow();
    tr.dataset.label = r.label;
    if (r.value === null) {
      tr.className = 'suppressed';
      tr.dataset.suppressed = 'true';
    } else {
      tr.dataset.value = String(r.value);
    }
    tr.insertCell().textContent = r.label;
    const td = tr.insertCell();
    td.className = 'count';
    td.textContent = r.text;
  }
}

function renderChart(panel, canvas, rows) {
  const existing = Chart.getChart(canvas);
  if (existing) existing.destroy();
  charts[panel.id] = new Chart(canvas, {
    type: panel.chart,
    data: {
      labels: rows.map((r) => (r.value === null ? `${r.label} (suppressed)` : r.label)),
      datasets: [{
        label: panel.percent ? '%' : 'count',
        data: rows.map((r) => r.value),
        backgroundColor: '#2a7fa8',
        borderColor: '#0b4f6c',
        spanGaps: false,
      }],
    },
    options: {
      animation: false,
      indexAxis: panel.horizontal ? 'y' : 'x',
      plugins: { legend: { display: false } },
      scales: { [panel.horizontal ? 'x' : 'y']: { beginAtZero: true } },
    },
  });
}

async function load(range) {
  const status = document.getElementById('status');
  status.textContent = 'loading…';
  try {
    await Promise.all(PANELS.map(async (panel) => {
      const section = document.querySelector(`[data-panel="${panel.id}"]`);
      const request = { ...panel.request, fromDate: range.from, toDate: range.to };
      const path = panel.api === 'query' ? '/v1/query' : '/v1/indicator';
      requests[panel.id] = { path, body: request };
      const answer = await post(path, request);
      if (answer.k) document.getElementById('k').textContent = answer.k;
      const rows = rowsOf(panel, answer);
      shown[panel.id] = rows;
      renderTable(section.querySelector('table'), rows);
      renderChart(panel, section.querySelector('canvas'), rows);
    }));
    status.textContent = '';
    document.body.dataset.loaded = 'true';
  } catch (e) {
    status.textContent = `error: ${e.message}`;
    document.body.dataset.loaded = 'error';
  }
}

const range = defaultRange();
document.getElementById('from').value = range.from;
document.getElementById('to').value = range.to;
document.getElementById('range').addEventListener('submit', (event) => {
  event.preventDefault();
  document.body.dataset.loaded = 'false';
  window.meridianDashboard.ready = load({
    from: document.getElementById('from').value, to: document.getElementById('to').value,
  });
});
window.meridianDashboard.ready = load(range);
