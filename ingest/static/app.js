// GourmetGram page: upload with progress, long-poll the outcome, then correct or flag it.
const $ = (id) => document.getElementById(id);
const input = $('file'), drop = $('drop'), submit = $('submit');
const statusLine = $('status'), progress = $('progress'), bar = $('bar');
let current = null;   // the prediction id on screen
let token = null;     // its feedback token: only the uploader has it, and only this page keeps it (in memory)
const pollWait = Number($('upload-form').dataset.pollWait);   // seconds a poll may wait (LONG_POLL_MAX_S)

function say(text, isError = false) {
  statusLine.textContent = text;
  statusLine.className = isError ? 'error' : '';
}

function choose(file) {
  if (!file) return;
  const data = new DataTransfer();
  data.items.add(file);
  input.files = data.files;
  $('preview').src = URL.createObjectURL(file);
  $('preview').hidden = false;
  $('drop-text').hidden = true;
  submit.disabled = false;
  $('result').hidden = true;
  say('');
}

input.addEventListener('change', () => choose(input.files[0]));
['dragenter', 'dragover'].forEach(e => drop.addEventListener(e, ev => { ev.preventDefault(); drop.classList.add('over'); }));
['dragleave', 'drop'].forEach(e => drop.addEventListener(e, ev => { ev.preventDefault(); drop.classList.remove('over'); }));
drop.addEventListener('drop', ev => choose(ev.dataTransfer.files[0]));

function upload(file) {
  // XMLHttpRequest, not fetch: only it reports upload progress.
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/predict');
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.style.width = `${100 * e.loaded / e.total}%`; };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      xhr.status === 202 ? resolve(body) : reject(new Error(body.error || `upload failed (HTTP ${xhr.status})`));
    };
    xhr.onerror = () => reject(new Error('network error: the upload did not reach the server'));
    const form = new FormData();
    form.append('file', file);
    xhr.send(form);
  });
}

async function waitForOutcome(id) {
  const started = Date.now();
  for (;;) {
    let doc = null;
    const asked = Date.now();
    try {
      const r = await fetch(`/predictions/${id}?wait=${pollWait}`);
      doc = await r.json();
      if (!r.ok && r.status !== 404) throw new Error(doc.error || `HTTP ${r.status}`);
    } catch (e) {
      say(`Connection trouble (${e.message}); still trying…`, true);
      await new Promise(res => setTimeout(res, 2000));
      continue;
    }
    if (current !== id) return null;   // the user moved on
    if (doc.status === 'done' || doc.status === 'rejected') return doc;
    const waited = Math.round((Date.now() - started) / 1000);
    if (doc.status === 'failed') say(`Storage trouble, retrying automatically (${doc.reason || ''})…`, true);
    else if (waited > 15) say(`This is taking longer than usual (${waited} s); still waiting…`);
    else say(doc.stage === 'queued' ? 'Uploaded: waiting for the classifier…' : 'Classifying…');
    // Still pending well before the wait ran out: the server had no slot to wait in, so pause.
    if (Date.now() - asked < 1000) await new Promise(res => setTimeout(res, 1000));
  }
}

function show(doc) {
  if (doc.status === 'rejected') {
    say(`This file was not classified: ${doc.reason}`, true);
    return;
  }
  say('');
  $('label').textContent = doc.predicted_class;
  $('confidence').textContent = `${(100 * doc.confidence).toFixed(1)}%`;
  $('meter').style.width = `${100 * doc.confidence}%`;
  $('details').textContent = `model ${doc.model_version} · ${doc.latency_ms} ms from upload to label`;
  $('corrected').value = doc.corrected_class || doc.predicted_class;
  $('feedback-status').textContent = '';
  $('result').hidden = false;
  if ((doc.model_version || '').startsWith('demo-')) $('demo-banner').hidden = false;
}

$('upload-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const file = input.files[0];
  if (!file) return;
  submit.disabled = true;
  $('result').hidden = true;
  progress.hidden = false;
  progress.classList.remove('waiting');
  bar.style.width = '0';
  say('Uploading…');
  try {
    const { id, feedback_token } = await upload(file);
    current = id;
    token = feedback_token;
    progress.classList.add('waiting');
    say('Uploaded: waiting for the classifier…');
    const doc = await waitForOutcome(id);
    if (doc) show(doc);
  } catch (e) {
    say(e.message, true);
  } finally {
    progress.hidden = true;
    submit.disabled = false;
  }
});

async function sendFeedback(body, done) {
  const r = await fetch(`/predictions/${current}/feedback`, {
    method: 'POST', body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', 'Authorization': `Bearer ${token}` },
  });
  const doc = await r.json();
  $('feedback-status').textContent = r.ok ? done : (doc.error || `failed (HTTP ${r.status})`);
  $('feedback-status').className = r.ok ? '' : 'error';
}

$('feedback-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const cls = $('corrected').value;
  sendFeedback({ corrected_class: cls }, `Thanks! Saved "${cls}" as the correct class.`);
});
$('flag').addEventListener('click', () => sendFeedback({ flagged: true }, 'Thanks! The prediction is flagged for review.'));

fetch('/api/status').then(r => r.json()).then(s => { if (s.demo_model) $('demo-banner').hidden = false; }).catch(() => {});
