// GourmetGram page: choose a photo (button, drag and drop, paste), upload it once with progress, long-poll the
// outcome, then correct or flag it. Focus and the live status line follow each step for keyboard and
// screen-reader users.
import { fileSize } from './format.js';
import { looksLikePhoto, readHead } from './sniff.js';

const $ = (id) => document.getElementById(id);
const form = $('upload-form'), input = $('file'), drop = $('drop'), choose = $('choose');
const submit = $('submit'), cancel = $('cancel'), statusLine = $('status');
const progressRow = $('progress-row'), progress = $('progress'), bar = $('bar'), progressText = $('progress-text');
const pollWait = Number(form.dataset.pollWait);   // seconds a poll may wait (long_poll_max_s)
const maxBytes = Number(form.dataset.maxBytes), maxMb = form.dataset.maxMb, formats = form.dataset.formats;
// Below this confidence (review_confidence, where operators start reviewing) an answer is a guess.
const sureFrom = Number(form.dataset.sureFrom);
const reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)').matches;

const state = {
  file: null,        // the chosen photo
  sent: false,       // whether it was accepted already: one submission per chosen photo
  run: 0,            // counts submissions and choices: work of an earlier one leaves the page alone
  busy: false,       // uploading or waiting for its label
  xhr: null,         // the upload in flight (Cancel aborts it)
  poll: null,        // aborts the long-poll in flight
  id: null,          // the prediction on screen
  token: null,       // its feedback token: only the uploader has it, and only this page keeps it (in memory)
  predicted: null,   // the model's class for it
  corrected: null,   // the correction saved for it
  flagged: false,
  sending: false,    // a feedback request in flight
};
let previewUrl = null;

// --- what the visitor reads -------------------------------------------------------------------------------

function say(text, { error = false, detail = '' } = {}) {
  statusLine.textContent = text;
  statusLine.className = error ? 'status error' : 'status';
  $('problem-text').textContent = detail;
  $('problem-details').hidden = !detail;
}

// Server and function messages are written for operators; the visitor gets plain words and what to do, with
// the original in "Technical details". `retry`: sending the same photo again may work.
const PROBLEMS = [
  [/empty/i, () => 'This file is empty. Please choose another photo.'],
  [/too many pixels/i, () => 'This photo has too many pixels for us to read. Please choose a smaller photo, '
    + 'or resize it and try again.'],
  [/larger than the limit|the limit is|too large/i, () => `This file is too big: the limit is ${maxMb} MB. `
    + 'Please choose a smaller photo, or resize it and try again.'],
  [/corrupt|truncated/i, () => 'This photo seems damaged or incomplete, so we could not read it. '
    + 'Please choose another photo, or save this one again and retry.'],
  [/aspect ratio/i, () => 'This picture is too long and thin to be a food photo. Please choose another photo.'],
  [/not an image|not accepted/i, () => `This file is not a photo we can read. Please choose a ${formats} photo.`],
];

function plain(message, status) {
  if (status === 0) {
    return { text: 'Your photo could not be sent: please check your connection and press Classify again.',
             retry: true };
  }
  if (status === 503 || status >= 500 || /storage is unavailable/i.test(message)) {
    return { text: 'The service is busy right now and nothing was kept. Please press Classify again in a moment.',
             retry: true };
  }
  for (const [pattern, text] of PROBLEMS) if (pattern.test(message)) return { text: text(), retry: false };
  return { text: 'Something went wrong with this photo. Please try again, or choose another photo.', retry: true };
}

// --- choosing a photo ---------------------------------------------------------------------------------------

function stopWork() {
  state.run += 1;
  if (state.xhr) state.xhr.abort();
  if (state.poll) state.poll.abort();
  state.xhr = state.poll = null;
  state.busy = false;
  state.id = null;
  progressRow.hidden = true;
  cancel.hidden = true;
}

async function pick(file) {
  if (!file) return;
  stopWork();
  const run = state.run;
  state.file = file;
  state.sent = false;
  $('result').hidden = true;
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = null;
  const preview = $('preview');
  preview.hidden = true;
  const name = file.name || 'Pasted photo';
  $('chosen').textContent = `${name} · ${fileSize(file.size)}`;
  $('chosen').hidden = false;
  $('drop-text').hidden = true;
  choose.textContent = 'Choose another photo';
  // Refusals that need no upload: the visitor learns at once, and nothing is sent. The content decides, as
  // on the server (a phone's HEIC often comes with no type at all, and a renamed document with image/jpeg).
  submit.disabled = true;
  let refusal = null, detail = '';
  if (file.size === 0) refusal = 'This file is empty. Please choose another photo.';
  else if (file.size > maxBytes) {
    refusal = `This file is ${fileSize(file.size)}: the limit is ${maxMb} MB. Please choose a smaller photo.`;
  } else {
    let head = null;
    try { head = await readHead(file); } catch (e) { /* unreadable here: the server decides */ }
    if (run !== state.run) return;   // another photo was chosen meanwhile
    if (head && !looksLikePhoto(head)) {
      refusal = `This file is not a photo we can read. Please choose a ${formats} photo.`;
      detail = `not an image: the content is in no image format we accept (${formats})`;
    }
  }
  submit.disabled = refusal !== null;
  if (refusal) {
    say(refusal, { error: true, detail });
    return;
  }
  previewUrl = URL.createObjectURL(file);
  preview.src = previewUrl;
  preview.alt = `Preview of ${name}`;
  preview.hidden = false;
  say(`Chosen: ${name}. Press Classify to find out what food it is.`);
}

// The browser cannot draw some files it was given (not an image, or a format it does not show): no empty box.
$('preview').addEventListener('error', () => {
  if (!previewUrl) return;
  $('preview').hidden = true;
  $('chosen').textContent += ' · no preview';
});

choose.addEventListener('click', () => input.click());
input.addEventListener('change', () => {
  pick(input.files[0]);
  input.value = '';   // choosing the same file again is a new choice
});
drop.addEventListener('click', (ev) => { if (ev.target !== choose) input.click(); });
['dragenter', 'dragover'].forEach((type) => drop.addEventListener(type, (ev) => {
  ev.preventDefault();
  drop.classList.add('over');
}));
['dragleave', 'drop'].forEach((type) => drop.addEventListener(type, () => drop.classList.remove('over')));
// A photo dropped anywhere on the page is chosen, rather than opened by the browser in place of the page.
document.addEventListener('dragover', (ev) => ev.preventDefault());
document.addEventListener('drop', (ev) => {
  ev.preventDefault();
  const file = ev.dataTransfer && ev.dataTransfer.files[0];
  if (file) pick(file);
});
document.addEventListener('paste', (ev) => {
  const file = [...(ev.clipboardData ? ev.clipboardData.files : [])].find((f) => f.type.startsWith('image/'));
  if (!file) return;   // pasted text goes where text goes
  ev.preventDefault();
  pick(file);
});

// --- uploading and waiting ------------------------------------------------------------------------------------

function showProgress(fraction) {
  progressRow.hidden = false;
  progress.classList.toggle('waiting', fraction === null);
  if (fraction === null) {   // the classifier is working: no percentage to give
    progress.removeAttribute('aria-valuenow');
    bar.style.width = '';
    progressText.textContent = 'Classifying…';
  } else {
    const pct = Math.round(100 * fraction);
    progress.setAttribute('aria-valuenow', String(pct));
    bar.style.width = `${pct}%`;
    progressText.textContent = `Uploading… ${pct}%`;
  }
}

function upload(file) {
  // XMLHttpRequest, not fetch: only it reports upload progress (and it can be aborted midway).
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    state.xhr = xhr;
    xhr.open('POST', '/predict');
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) showProgress(e.loaded / e.total); };
    xhr.upload.onload = () => {   // every byte sent: from now on it is the server's, nothing to cancel
      if (document.activeElement === cancel) statusLine.focus();
      cancel.hidden = true;
      showProgress(null);
    };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON: a proxy's error page */ }
      if (xhr.status === 202) resolve(body);
      else reject(Object.assign(new Error(body.error || `HTTP ${xhr.status}`), { status: xhr.status }));
    };
    xhr.onerror = () => reject(Object.assign(new Error('network error: the upload did not reach the server'),
                                             { status: 0 }));
    xhr.onabort = () => reject(Object.assign(new Error('cancelled'), { cancelled: true }));
    const body = new FormData();
    body.append('file', file, file.name || 'pasted-photo');
    xhr.send(body);
  });
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitForOutcome(id) {
  const started = Date.now();
  for (;;) {
    let doc = null;
    const asked = Date.now();
    try {
      state.poll = new AbortController();
      const r = await fetch(`/predictions/${id}?wait=${pollWait}`, { signal: state.poll.signal });
      doc = await r.json();
      if (!r.ok) throw new Error(doc.error || `HTTP ${r.status}`);
    } catch (e) {
      if (state.id !== id) return null;   // aborted: the visitor chose another photo
      say('We lost touch with the server; still trying…', { error: true, detail: e.message });
      await pause(2000);
      continue;
    }
    if (state.id !== id) return null;   // the visitor moved on to another photo
    if (doc.status === 'done' || doc.status === 'rejected') return doc;
    const waited = Math.round((Date.now() - started) / 1000);
    if (doc.status === 'failed') {
      say('Our storage is having trouble; we keep trying on our own…', { detail: doc.reason || '' });
    } else if (waited > 15) say(`This is taking longer than usual (${waited} s); still waiting…`);
    // Still pending well before the wait ran out: the server had no slot to wait in, so pause.
    if (Date.now() - asked < 1000) await pause(1000);
  }
}

function revealResult() {
  const heading = $('result-heading');
  heading.focus({ preventScroll: true });
  // The card may start below a tall portrait photo on a phone: bring it, with its buttons, into view.
  $('result').scrollIntoView({ block: 'nearest', behavior: reducedMotion ? 'auto' : 'smooth' });
}

// A confidence as a visitor reads it: a whole percentage, kept on one line.
const wholePercent = (fraction) => `${Math.round(100 * fraction)}\u00a0%`;

// How sure the model is, in words: confident answers say so; below `sureFrom` it is a guess.
function sureness(confidence) {
  if (confidence >= 0.9) return 'Very sure';
  if (confidence >= sureFrom) return 'Fairly sure';
  return null;
}

function showAnswer(doc) {
  const words = sureness(doc.confidence);
  $('result').classList.toggle('guess', words === null);
  if (words) {
    $('label').textContent = doc.predicted_class;
    $('confidence').textContent = `${words} (${wholePercent(doc.confidence)})`;
    $('meter').style.width = `${100 * doc.confidence}%`;
    $('corrected-label').textContent = 'Wrong? Pick the right class:';
    return;
  }
  // The model hesitates: its likeliest classes (the record's `top`; older records have only the first).
  const top = Array.isArray(doc.top) && doc.top.length ? doc.top
    : [{ class: doc.predicted_class, confidence: doc.confidence }];
  $('label').textContent = `Not sure — maybe ${top.map((t) => `${t.class} (${wholePercent(t.confidence)})`)
    .join(', ')}.`;
  $('confidence').textContent = 'Which is it?';
  $('corrected-label').textContent = 'Pick the class this photo shows:';
}

function show(doc) {
  state.predicted = doc.predicted_class;
  state.corrected = doc.corrected_class || null;
  state.flagged = doc.flagged === true;
  showAnswer(doc);
  $('details').textContent = `Model ${doc.model_version} · ${doc.latency_ms} ms from upload to label · `
    + `prediction ${doc.id}`;
  for (const option of $('corrected').options) {
    if (option.value) {
      option.textContent = option.value === doc.predicted_class ? `${option.value} (the model's answer)`
        : option.value;
    }
  }
  $('corrected').value = state.corrected || '';
  showFlag();
  feedbackSay('');
  $('result').hidden = false;
  say('');   // the card says it, once; its heading gets the focus, so screen readers read it
  if ((doc.model_version || '').startsWith('demo-')) $('demo-banner').hidden = false;
  revealResult();
}

form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  // One submission per chosen photo: a second press (or Enter) while it uploads, or after it was accepted,
  // would store the same photo twice as training data.
  if (!state.file || state.sent || state.busy) return;
  const run = ++state.run;
  state.busy = true;
  submit.disabled = true;
  cancel.hidden = false;
  cancel.focus();   // the pressed button is disabled now: focus must not fall to the page
  $('result').hidden = true;
  showProgress(0);
  say('Uploading your photo…');
  try {
    const { id, feedback_token: token } = await upload(state.file);
    if (run !== state.run) return;
    state.sent = true;
    state.id = id;
    state.token = token;
    say('Uploaded. Classifying…');
    const doc = await waitForOutcome(id);
    if (doc && doc.status === 'done') show(doc);
    else if (doc) {
      say(`We could not classify this photo. ${plain(doc.reason || '', 422).text}`,
          { error: true, detail: doc.reason || '' });
      statusLine.focus();
    }
  } catch (e) {
    if (run !== state.run) return;   // another photo was chosen meanwhile
    if (e.cancelled) {
      say('Upload cancelled. Press Classify to send the photo again, or choose another one.');
      statusLine.focus();
    } else {
      const problem = plain(e.message, e.status);
      state.sent = !problem.retry;
      say(problem.text, { error: true, detail: e.message });
      statusLine.focus();
    }
  } finally {
    if (run === state.run) {
      state.busy = false;
      state.xhr = state.poll = null;
      progressRow.hidden = true;
      cancel.hidden = true;
      submit.disabled = !state.file || state.sent;
    }
  }
});

cancel.addEventListener('click', () => { if (state.xhr) state.xhr.abort(); });

// --- feedback ---------------------------------------------------------------------------------------------------

function feedbackSay(text, error = false) {
  $('feedback-status').textContent = text;
  $('feedback-status').className = error ? 'status error' : 'status';
}

function showFlag() {
  $('flag').textContent = state.flagged ? 'Remove flag' : 'Flag for review';
}

function feedbackProblem(status, message) {
  if (status === 403) return 'Only the page that uploaded this photo can change its label.';
  if (status === 409) return 'This photo is not classified yet: please try again in a moment.';
  if (status === 0 || status >= 500) {
    return 'That could not be saved just now (the service is busy). Please press the button again.';
  }
  return `That could not be saved: ${message}`;
}

async function sendFeedback(body) {
  if (state.sending || !state.id) return null;
  state.sending = true;
  let r = null, doc = {};
  try {
    r = await fetch(`/predictions/${state.id}/feedback`, {
      method: 'POST', body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json', 'Authorization': `Bearer ${state.token}` },
    });
    try { doc = await r.json(); } catch (e) { /* not JSON */ }
  } catch (e) {
    /* no answer: r stays null */
  } finally {
    state.sending = false;
  }
  if (r && r.ok) return doc.saved;
  feedbackSay(feedbackProblem(r ? r.status : 0, doc.error || ''), true);
  return null;
}

$('feedback-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const choice = $('corrected').value;
  if (!choice) {
    feedbackSay('Choose the class the photo really shows, then press Save correction.', true);
    $('corrected').focus();
    return;
  }
  if (choice === state.predicted && !state.corrected) {
    feedbackSay(`${choice} is the model's answer, so there is nothing to correct: the model was right. Thanks!`);
    return;
  }
  const saved = await sendFeedback({ corrected_class: choice });
  if (!saved) return;
  state.corrected = saved.corrected_class || null;
  feedbackSay(state.corrected ? `Saved: this photo is ${state.corrected}. Thank you!`
    : `Your correction is taken back: the model was right, it is ${state.predicted}.`);
});

$('flag').addEventListener('click', async () => {
  const saved = await sendFeedback({ flagged: !state.flagged });
  if (!saved) return;
  state.flagged = saved.flagged === 'true';
  showFlag();
  feedbackSay(state.flagged ? 'Flagged for review. Thank you!' : 'Flag removed.');
});

fetch('/api/status').then((r) => r.json()).then((s) => { if (s.demo_model) $('demo-banner').hidden = false; })
  .catch(() => { /* no banner: the result's model version still shows it */ });
