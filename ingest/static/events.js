// GourmetGram event log: the newest outcomes, refreshed every 3 s.
// A file of its own, columns from the table's data attribute: the page's CSP allows no inline script.
const columns = JSON.parse(document.getElementById('events').dataset.columns);
async function refresh() {
  try {
    const rows = await (await fetch('/api/events?limit=100')).json();
    const body = document.querySelector('#events tbody');
    body.replaceChildren(...rows.map(r => {
      const tr = document.createElement('tr');
      tr.className = r.status;
      for (const c of columns) {
        const td = document.createElement('td');
        let v = r[c];
        if (c === 'confidence' && typeof v === 'number') v = v.toFixed(3);
        td.textContent = v ?? '';
        tr.appendChild(td);
      }
      return tr;
    }));
  } catch (e) { /* keep the last table; try again */ }
  setTimeout(refresh, 3000);
}
refresh();
