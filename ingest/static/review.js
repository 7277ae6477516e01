// GourmetGram review: one queued photo at a time; one key per class, Enter keeps the model's class,
// Space skips, u undoes the last answer (record and tags put back as they were, unless changed since).
// A file of its own: the page's CSP allows no inline script. `/review?id=<id>` (the event
// log's links) shows that photo first, queued or not, then the queue.
const $ = id => document.getElementById(id);
const keys = new Map([...document.querySelectorAll('.class-key')].map(b => [b.dataset.key, b.dataset.class]));
const skipped = new Set();   // skipped in this visit: the server's queue keeps them for later
let items = [], index = 0, total = 0, busy = false;
let last = null;   // the last answer saved: {item, before, etag, label}, what an undo needs
let asked = new URLSearchParams(window.location.search).get('id');   // shown first, once

// The photo the address names, or null (and why not, said on the page).
async function askedItem() {
  const id = asked;
  asked = null;
  const r = await fetch(`/review/api/item/${encodeURIComponent(id)}`);
  const body = await r.json();
  if (r.ok) return body;
  $('saved').textContent = `Cannot open photo ${id}: ${body.error || r.statusText}. Showing the queue.`;
  return null;
}

async function load() {
  busy = true;
  try {
    const r = await fetch('/review/api/queue?limit=200');
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || r.statusText);
    items = body.items.filter(i => !skipped.has(i.id));
    if (asked) {
      const first = await askedItem();
      if (first) items = [first, ...items.filter(i => i.id !== first.id)];
    }
    total = body.total;
    index = 0;
    show();
  } catch (e) {
    $('queue-status').textContent = `Cannot load the queue: ${e.message}. Retrying in 5 s.`;
    setTimeout(load, 5000);
  } finally { busy = false; }
}

function show() {
  const item = items[index];
  if (!item) {
    $('item').hidden = true;
    $('queue-status').textContent = skipped.size
      ? `Nothing left but the ${skipped.size} photo(s) you skipped. Reload the page to see them again.`
      : 'The queue is empty: every queued photo is reviewed.';
    return;
  }
  $('queue-status').textContent = `${total} photo(s) in the queue`;
  $('item').hidden = false;
  $('item').dataset.id = item.id;
  $('photo').src = item.photo;
  $('predicted').textContent = item.predicted_class;
  $('confidence').textContent = `${(item.confidence * 100).toFixed(1)} %`;
  $('correction-line').hidden = !item.corrected_class;
  $('correction').textContent = item.corrected_class || '';
  $('flag-line').hidden = !item.flagged;
  $('reviewed-line').hidden = !item.human_label;
  $('reviewed').textContent = item.human_label || '';
  $('reasons').textContent = item.reasons.join(', ') || 'opened by its id';
  $('uploaded').textContent = item.uploaded;
  $('source').textContent = item.source;
  $('position').textContent = `${index + 1} of ${items.length} loaded`;
  document.querySelectorAll('.class-key').forEach(b => b.classList.toggle('predicted',
    b.dataset.class === item.predicted_class));
  const next = items[index + 1];
  if (next) new Image().src = next.photo;  // fetched ahead, so the next photo shows at once
}

function advance() {
  index += 1;
  if (index >= items.length) load(); else show();
}

async function answer(humanLabel) {
  const item = items[index];
  if (!item || busy) return;
  busy = true;
  try {
    const r = await fetch(`/review/api/${item.id}`, {
      method: 'POST', headers: {'Content-Type': 'application/json'},
      // A photo opened by its id, or one its uploader disputed, carries a review already: the page says so,
      // and this one replaces it.
      body: JSON.stringify({human_label: humanLabel, ...(item.human_label ? {replace: true} : {})}),
    });
    const body = await r.json();
    if (r.ok) {
      $('saved').textContent = `Saved "${body.human_label}" for the last photo.`;
      last = { item, before: body.before, etag: body.etag, label: body.human_label };
      $('undo').disabled = false;
      total -= 1;
    } else if (r.status === 409 || r.status === 404) {
      $('saved').textContent = `Not saved: ${body.error}`;   // someone else got there first: move on
    } else {
      $('saved').textContent = `Not saved, try again: ${body.error}`;
      return;
    }
    advance();
  } catch (e) {
    $('saved').textContent = `Not saved, try again: ${e.message}`;
  } finally { busy = false; }
}

async function undo() {
  if (!last || busy) return;
  busy = true;
  const { item, before, etag, label } = last;
  try {
    const r = await fetch(`/review/api/${item.id}/undo`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', 'If-Match': etag },
      body: JSON.stringify(before),
    });
    const body = await r.json();
    if (r.ok) {
      last = null;
      $('undo').disabled = true;
      // The photo comes back where the reviewer is, as it was before the answer.
      const back = { ...item, human_label: before.human_label };
      items = [...items.slice(0, index).filter(i => i.id !== item.id), back,
               ...items.slice(index).filter(i => i.id !== item.id)];
      index = items.indexOf(back);
      total += 1;
      show();
      $('saved').textContent = `Undone: "${label}" taken back; the photo is as it was.`;
    } else if (r.status === 412 || r.status === 404) {
      last = null;   // changed or gone since: nothing left to undo
      $('undo').disabled = true;
      $('saved').textContent = `Not undone: ${body.error}`;
    } else {
      $('saved').textContent = `Not undone, try again: ${body.error}`;
    }
  } catch (e) {
    $('saved').textContent = `Not undone, try again: ${e.message}`;
  } finally { busy = false; }
}

function skip() {
  const item = items[index];
  if (!item || busy) return;
  skipped.add(item.id);
  $('saved').textContent = 'Skipped.';
  advance();
}

document.addEventListener('keydown', e => {
  if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
  const key = e.key.toLowerCase();
  if (keys.has(key)) { e.preventDefault(); answer(keys.get(key)); }
  else if (e.key === 'Enter') { e.preventDefault(); if (items[index]) answer(items[index].predicted_class); }
  else if (e.key === ' ') { e.preventDefault(); skip(); }
  else if (key === 'u') { e.preventDefault(); undo(); }
});
document.querySelectorAll('.class-key').forEach(b => b.addEventListener('click', () => answer(b.dataset.class)));
$('accept').addEventListener('click', () => items[index] && answer(items[index].predicted_class));
$('skip').addEventListener('click', skip);
$('undo').addEventListener('click', undo);
load();
