// GourmetGram event log: the latest outcomes, newest first by outcome time, refreshed every 3 s.
// Rows are kept by record id and only changed cells are rewritten, so a selection, the scroll position and
// the reading order survive a refresh; a late correction or flag changes its cells, never the row's place.
// A file of its own, columns from the table's header: the page's CSP allows no inline script.
// The filters (status, class, source) hide the rows that do not match, the ones loaded and every refresh's;
// the page's address keeps them (?status=&class=&source=), so a reload or a shared link shows the same rows.
// Operators only (/review/events): the Photo column is a thumbnail linking to the photo's review.
import { clockTime, localTime, percent, timeZone } from './format.js';

const REFRESH_MS = 3000;
const table = document.getElementById('events');
const body = table.tBodies[0];
const keys = [...table.tHead.rows[0].cells].map((th) => th.dataset.key);
const updated = document.getElementById('updated');
const problem = document.getElementById('refresh-problem');
const filters = document.getElementById('filters');
const shown = document.getElementById('shown');
const STATUS_TEXT = { done: '✓ done', rejected: '✕ rejected', failed: '! failed', pending: '… pending' };
// What a row whose photo is not in production shows in the Photo column instead of a thumbnail.
const NO_PHOTO = { rejected: 'no photo (quarantined)', failed: 'no photo yet (failed)', pending: 'no photo yet' };
// Each filter and the record field it compares (the model's class: the one production files it under).
const FILTERED = { status: 'status', class: 'predicted_class', source: 'source' };

// When the photo's outcome was recorded (a pending one has none yet; records from before `timestamps` had
// only the listing's time).
function outcomeTime(r) {
  const t = r.timestamps || {};
  return r.status === 'pending' ? null : (t.finished || r.time || null);
}

function sortTime(r) {
  const t = r.timestamps || {};
  const ms = Date.parse(outcomeTime(r) || t.claimed || t.received || t.uploaded || r.time || '');
  return Number.isNaN(ms) ? -Infinity : ms;
}

const newestFirst = (a, b) => sortTime(b) - sortTime(a) || String(b.id).localeCompare(String(a.id));

// What each column shows of a record: its text, and for some a class (colour beside the text) or a time.
const CELLS = {
  photo: (r) => (r.status === 'done' && r.production_key
    ? { photo: r.id, text: r.original_filename || r.incoming_key || r.id }
    : { text: NO_PHOTO[r.status] || 'no photo', cls: 'no-photo' }),
  finished: (r) => {
    const iso = outcomeTime(r);
    return iso ? { text: localTime(iso), time: iso } : { text: r.status === 'pending' ? 'in progress' : '' };
  },
  status: (r) => ({ text: STATUS_TEXT[r.status] || r.status, cls: `state state-${r.status}` }),
  // The name the uploader gave (a web upload's key is only its id), and the id the console lists it by.
  file: (r) => ({ text: r.original_filename || r.incoming_key || '', id: r.id, cls: 'file' }),
  predicted_class: (r) => ({ text: r.predicted_class || '' }),
  confidence: (r) => ({ text: percent(r.confidence), cls: 'number' }),
  corrected_class: (r) => ({ text: r.corrected_class || '' }),
  flagged: (r) => ({ text: r.flagged ? '⚑ flagged' : '' }),
  source: (r) => ({ text: r.source || '' }),
  latency_ms: (r) => ({ text: typeof r.latency_ms === 'number' ? `${r.latency_ms} ms` : '', cls: 'number' }),
  reason: (r) => ({ text: r.reason || '', cls: 'reason' }),
};

function fill(td, cell) {
  const signature = JSON.stringify(cell);
  if (td.dataset.signature === signature) return;   // unchanged: leave it (and any selection in it) alone
  td.dataset.signature = signature;
  td.className = cell.cls || '';
  if (cell.time) {
    const time = document.createElement('time');
    time.dateTime = cell.time;
    time.title = cell.time;
    time.textContent = cell.text;
    td.replaceChildren(time);
  } else if (cell.photo) {
    // The frontend serves the thumbnail (under the review token); the link opens the photo's review.
    const link = document.createElement('a');
    link.className = 'thumb';
    link.href = `/review?id=${encodeURIComponent(cell.photo)}`;
    const img = document.createElement('img');
    img.src = `/review/thumbs/${encodeURIComponent(cell.photo)}`;
    img.alt = cell.text;
    img.loading = 'lazy';
    img.addEventListener('error', () => img.replaceWith('photo unavailable '), { once: true });
    const label = document.createElement('span');
    label.textContent = 'Review';
    link.replaceChildren(img, label);
    td.replaceChildren(link);
  } else if (cell.id) {
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = cell.text;
    const id = document.createElement('small');
    id.className = 'id';
    id.textContent = cell.id;
    td.replaceChildren(name, id);
  } else {
    td.textContent = cell.text;
  }
}

function rowFor(record, existing) {
  let tr = existing.get(record.id);
  if (!tr) {
    tr = document.createElement('tr');
    tr.dataset.id = record.id;
    for (const key of keys) {
      const cell = tr.appendChild(document.createElement(key === 'file' ? 'th' : 'td'));
      if (key === 'file') cell.scope = 'row';   // the file names the row for a screen reader
    }
  }
  // What the filters compare, on the row, renewed every refresh (a pending photo becomes done).
  for (const [name, field] of Object.entries(FILTERED)) tr.dataset[name] = record[field] ?? '';
  keys.forEach((key, i) => fill(tr.cells[i], (CELLS[key] || ((r) => ({ text: String(r[key] ?? '') })))(record)));
  return tr;
}

// The first row in view and where it is, so new rows above it do not push what the reader looks at away.
function anchor() {
  if (window.scrollY === 0) return null;   // at the top: new rows appear there, in view
  for (const tr of body.rows) {
    if (tr.hidden) continue;   // filtered out: it has no place on the screen
    const top = tr.getBoundingClientRect().top;
    if (top >= 0) return { tr, top };
  }
  return null;
}

function render(records) {
  const keep = anchor();
  const existing = new Map([...body.rows].map((tr) => [tr.dataset.id, tr]));
  const wanted = [...records].sort(newestFirst);
  const ids = new Set(wanted.map((r) => r.id));
  for (const [id, tr] of existing) if (!ids.has(id)) tr.remove();
  // Move only rows that are out of place: a moved row loses a selection inside it, an unmoved one keeps it.
  wanted.forEach((record, i) => {
    const tr = rowFor(record, existing);
    if (body.rows[i] !== tr) body.insertBefore(tr, body.rows[i] || null);
  });
  applyFilters();
  if (keep && keep.tr.isConnected) window.scrollBy(0, keep.tr.getBoundingClientRect().top - keep.top);
}

// The value chosen in each filter ('' for all).
function chosen() {
  return Object.fromEntries(Object.keys(FILTERED).map((name) => [name, filters.elements[name].value]));
}

function applyFilters() {
  const wanted = Object.entries(chosen()).filter(([, value]) => value);
  let count = 0;
  for (const tr of body.rows) {
    tr.hidden = !wanted.every(([name, value]) => tr.dataset[name] === value);
    if (!tr.hidden) count += 1;
  }
  const text = wanted.length ? `${count} of ${body.rows.length} outcomes match the filters.` : '';
  if (shown.textContent !== text) shown.textContent = text;
}

function filtersFromAddress() {
  const query = new URLSearchParams(window.location.search);
  for (const name of Object.keys(FILTERED)) {
    const select = filters.elements[name];
    const value = query.get(name) || '';
    if ([...select.options].some((option) => option.value === value)) select.value = value;
  }
}

filters.addEventListener('change', () => {
  applyFilters();
  const query = new URLSearchParams(window.location.search);
  for (const [name, value] of Object.entries(chosen())) {
    if (value) query.set(name, value); else query.delete(name);
  }
  const search = query.toString();
  window.history.replaceState(null, '', search ? `?${search}` : window.location.pathname);
});
filters.addEventListener('submit', (e) => e.preventDefault());   // Enter in a select sends nothing

let lastGood = null;

function failed(message) {
  updated.textContent = `Last refresh failed at ${clockTime()}.`;
  const text = `The event log could not be refreshed (${message}). `
    + (lastGood ? `The table shows the log as of ${clockTime(lastGood)}; ` : 'Nothing could be loaded yet; ')
    + 'trying again every 3 s.';
  if (problem.textContent !== text) problem.textContent = text;   // announced once, not every 3 s
  problem.hidden = false;
}

async function refresh() {
  try {
    let r = null, doc = null;
    try {
      r = await fetch('/review/api/events?limit=100', { cache: 'no-store' });
    } catch (e) {
      throw new Error('the server did not answer');
    }
    try { doc = await r.json(); } catch (e) { /* not JSON: a proxy's error page */ }
    if (!r.ok || !Array.isArray(doc)) throw new Error((doc && doc.error) || `HTTP ${r.status}`);
    render(doc);
    lastGood = new Date();
    updated.textContent = `Updated at ${clockTime(lastGood)}.`;
    problem.hidden = true;
    problem.textContent = '';
  } catch (e) {
    failed(e.message);
  }
  setTimeout(refresh, REFRESH_MS);
}

document.getElementById('zone').textContent = timeZone();
filtersFromAddress();
refresh();
