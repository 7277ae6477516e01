// How both pages write numbers and times: one format for a confidence everywhere, times in the viewer's zone.

const percentFormat = new Intl.NumberFormat(undefined, { style: 'percent', minimumFractionDigits: 1,
                                                         maximumFractionDigits: 1 });

export function percent(fraction) {
  return typeof fraction === 'number' ? percentFormat.format(fraction) : '';
}

export function fileSize(bytes) {
  if (bytes < 1e3) return `${bytes} bytes`;
  if (bytes < 1e6) return `${Math.round(bytes / 1e3)} KB`;
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

const sameDay = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });
const otherDay = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const clock = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });

// An ISO time (UTC) as the viewer reads it, in their own time zone: the time alone when it is today.
export function localTime(iso, now = new Date()) {
  const when = new Date(iso);
  if (Number.isNaN(when.getTime())) return '';
  return (when.toDateString() === now.toDateString() ? sameDay : otherDay).format(when);
}

export function clockTime(when = new Date()) {
  return clock.format(when);
}

export function timeZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'your time zone';
}
