// The grid supervisor's app. A report is kept on the phone (localStorage)
// with a key of its own before anything is sent, and sent from there: when
// there is no signal it waits, and when the signal returns it goes, once —
// the server makes a second send of the same key the same ticket.
'use strict';

const store = {
  get(k, d) { try { return JSON.parse(localStorage.getItem('yihao.field.' + k)) ?? d; } catch { return d; } },
  set(k, v) { localStorage.setItem('yihao.field.' + k, JSON.stringify(v)); },
  drop(k) { localStorage.removeItem('yihao.field.' + k); },
};
const $ = (s) => document.querySelector(s);
let position = null;
let photo = null; // the picked photo, made small, as a data: URL
let after = null; // for a self-handled report, the photo after
let flushing = false;

function token() { return store.get('token', ''); }

function newKey() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function escapeHTML(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

// api calls the server with the phone's token; it throws on no signal.
async function api(method, path, body, headers = {}) {
  const h = { Authorization: 'Bearer ' + token(), ...headers };
  if (body && !(body instanceof FormData)) {
    h['Content-Type'] = 'application/json';
    body = JSON.stringify(body);
  }
  const res = await fetch(path, { method, headers: h, body });
  let data = null;
  try { data = await res.json(); } catch { /* no body */ }
  if (res.status === 401) { signOut(); }
  return { status: res.status, data };
}

function problem(data) {
  const e = data && data.error;
  return e ? (e.message || e.code) + (e.field ? '（' + e.field + '）' : '') : '未知错误';
}

// Photos are made small on the phone: a report must get through a weak
// signal, and the server keeps at most a few megabytes anyway.
async function shrink(file) {
  const img = await createImageBitmap(file);
  const scale = Math.min(1, 1600 / Math.max(img.width, img.height));
  const c = document.createElement('canvas');
  c.width = Math.round(img.width * scale);
  c.height = Math.round(img.height * scale);
  c.getContext('2d').drawImage(img, 0, 0, c.width, c.height);
  return c.toDataURL('image/jpeg', 0.85);
}

function blobOf(dataURL) {
  const [head, b64] = dataURL.split(',');
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Blob([bytes], { type: head.slice(5, head.indexOf(';')) });
}

// flush sends the waiting reports in order. No signal, or a server that
// cannot take it now, stops it until the next try; a refusal (bad input)
// is told and the report leaves the queue, since sending it again would
// be refused again.
async function flush() {
  if (flushing || !token()) return;
  flushing = true;
  try {
    for (;;) {
      const queue = store.get('outbox', []);
      if (queue.length === 0) break;
      const r = queue[0];
      const form = new FormData();
      form.append('category', r.category);
      form.append('text', r.text);
      form.append('lat', String(r.lat));
      form.append('lon', String(r.lon));
      if (r.photo) form.append('photos', blobOf(r.photo), 'site.jpg');
      if (r.selfHandled) {
        form.append('self_handled', 'yes');
        form.append('result', r.result);
        form.append('after', blobOf(r.after), 'after.jpg');
      }
      let res;
      try {
        res = await api('POST', '/api/v1/field/reports', form, { 'Idempotency-Key': r.key });
      } catch {
        break; // no signal: it waits
      }
      if (res.status >= 500 || res.status === 429 || res.status === 408 || res.status === 401) break;
      const sent = store.get('sent', []);
      if (res.status === 200 || res.status === 201) {
        sent.unshift({ key: r.key, number: res.data.number, name: r.name, at: Date.now() });
      } else {
        sent.unshift({ key: r.key, refused: problem(res.data), name: r.name, at: Date.now() });
      }
      store.set('sent', sent.slice(0, 20));
      store.set('outbox', store.get('outbox', []).filter((x) => x.key !== r.key));
    }
  } finally {
    flushing = false;
    render();
  }
}

function render() {
  const queue = store.get('outbox', []);
  $('#outbox-count').textContent = String(queue.length);
  $('#outbox').innerHTML = queue.map((r) => `<li class="waiting" data-key="${escapeHTML(r.key)}"><b>${escapeHTML(r.name)}</b> ${escapeHTML(r.text)}<div class="meta">等待信号 · ${new Date(r.at).toLocaleTimeString()}</div></li>`).join('');
  $('#sent').innerHTML = store.get('sent', []).map((s) => s.refused
    ? `<li class="refused"><b>${escapeHTML(s.name)}</b> 未受理：${escapeHTML(s.refused)}</li>`
    : `<li class="sent" data-number="${escapeHTML(s.number)}"><b>${escapeHTML(s.name)}</b> 工单号 <span class="number">${escapeHTML(s.number)}</span></li>`).join('');
  const online = navigator.onLine;
  $('#net').textContent = online ? '在线' : '无信号';
  $('#net').classList.toggle('off', !online);
}

function show(view) {
  for (const b of document.querySelectorAll('nav button')) b.classList.toggle('on', b.dataset.view === view);
  for (const v of ['report', 'tasks', 'outbox']) $('#view-' + v).hidden = v !== view;
  if (view === 'tasks') loadTasks();
}

async function report(e) {
  e.preventDefault();
  const sel = $('#category');
  const opt = sel.selectedOptions[0];
  const status = $('#report-status');
  status.className = 'error';
  if (!sel.value) { status.textContent = '请选择部件/事件类型。'; return; }
  if (opt.dataset.photo === 'true' && !photo) { status.textContent = '这一类型需要现场照片。'; return; }
  if (!position) { status.textContent = '尚未定位，请在室外稍候再报。'; return; }
  const selfHandled = $('#self').checked;
  if (selfHandled && (!photo || !after || !$('#result').value.trim())) {
    status.textContent = '自处置需要处置前后的照片和处置结果。';
    return;
  }
  const r = { key: newKey(), category: sel.value, name: opt.textContent, text: $('#text').value.trim(),
    lat: position.lat, lon: position.lon, photo, at: Date.now(),
    selfHandled, result: $('#result').value.trim(), after: selfHandled ? after : null };
  const queue = store.get('outbox', []);
  queue.push(r);
  try {
    store.set('outbox', queue);
  } catch {
    status.textContent = '手机存储已满，请先在有信号处发送待发送的上报。';
    return;
  }
  $('#report-form').reset();
  photo = null;
  after = null;
  $('#self-fields').hidden = true;
  $('#preview').hidden = true;
  $('#filing').textContent = '';
  status.className = '';
  status.textContent = navigator.onLine ? '正在发送…' : '已保存，信号恢复后自动发送。';
  render();
  await flush();
  const sent = store.get('sent', []).find((s) => s.key === r.key);
  if (sent) status.textContent = sent.refused ? '未受理：' + sent.refused : '已上报，工单号 ' + sent.number;
  else status.textContent = '已保存，信号恢复后自动发送。';
}

async function loadTasks() {
  let res;
  try { res = await api('GET', '/api/v1/field/tasks'); } catch { $('#tasks-empty').textContent = '无信号，稍后再试'; return; }
  if (res.status !== 200) return;
  const tasks = res.data.tasks;
  $('#task-count').textContent = tasks.length ? String(tasks.length) : '';
  $('#tasks-empty').hidden = tasks.length > 0;
  $('#tasks').innerHTML = tasks.map((t) => {
    const yes = t.task === 'confirm' ? '属实' : '已处置到位';
    const no = t.task === 'confirm' ? '不属实' : '未处置到位';
    return `<li class="task" data-number="${escapeHTML(t.number)}" data-task="${escapeHTML(t.task)}">
<span class="light light-${escapeHTML(t.light || 'none')}"></span><b>${escapeHTML(t.task_label)}</b> ${escapeHTML(t.category_name || '')} <span class="number">${escapeHTML(t.number)}</span>
<div>${escapeHTML(t.text)}</div>
<div class="meta">${escapeHTML(t.address || t.grid)} · 时限 ${t.due_at ? new Date(t.due_at).toLocaleString() : '—'}${t.taken_by ? ' · 已由 ' + escapeHTML(t.taken_by) + ' 领取' : ''}</div>
<div class="task-actions">
${t.taken_by ? '' : '<button type="button" data-step="take" class="secondary">领取</button>'}
<input type="file" accept="image/*" capture="environment" class="task-photo">
<input type="text" class="task-note" placeholder="说明（否定时必填）" maxlength="500">
<button type="button" data-step="${t.task}" data-outcome="yes">${yes}</button>
<button type="button" data-step="${t.task}" data-outcome="no" class="secondary">${no}</button>
</div></li>`;
  }).join('');
  $('#tasks').dataset.loaded = String(Date.now()); // the list is fresh (tests wait for it)
}

async function taskStep(e) {
  const b = e.target.closest('button[data-step]');
  if (!b) return;
  const li = b.closest('li');
  const number = li.dataset.number;
  let body = null;
  if (b.dataset.step !== 'take') {
    body = new FormData();
    body.append('outcome', b.dataset.outcome);
    body.append('note', li.querySelector('.task-note').value);
    const f = li.querySelector('.task-photo').files[0];
    if (f) body.append('photos', blobOf(await shrink(f)), 'site.jpg');
  }
  let res;
  try { res = await api('POST', `/api/v1/field/tasks/${encodeURIComponent(number)}/${b.dataset.step}`, body); } catch {
    alert('无信号，稍后再试。');
    return;
  }
  if (res.status !== 200) { alert(problem(res.data)); return; }
  loadTasks();
}

async function patrol() {
  if (!store.get('duty', false) || !position || !token() || !navigator.onLine) return;
  try { await api('POST', '/api/v1/field/positions', { lat: position.lat, lon: position.lon }); } catch { /* no signal */ }
}

async function signIn(e) {
  e.preventDefault();
  const f = e.target;
  const err = $('#login-error');
  let res;
  try {
    res = await fetch('/api/v1/field/login', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: f.name.value, password: f.password.value }) });
  } catch {
    err.hidden = false;
    err.textContent = '无信号，请稍后再登录。';
    return;
  }
  const data = await res.json().catch(() => null);
  if (res.status !== 200) {
    err.hidden = false;
    err.textContent = problem(data);
    return;
  }
  store.set('token', data.token);
  store.set('who', data.display_name || data.name);
  start();
}

function signOut() {
  store.drop('token');
  $('#app').hidden = true;
  $('#login').hidden = false;
}

function start() {
  if (!token()) { $('#login').hidden = false; return; }
  $('#login').hidden = true;
  $('#app').hidden = false;
  $('#who').textContent = store.get('who', '');
  render();
  flush();
  loadTasks();
}

document.addEventListener('DOMContentLoaded', () => {
  $('#login-form').addEventListener('submit', signIn);
  $('#report-form').addEventListener('submit', report);
  $('#tasks').addEventListener('click', taskStep);
  for (const b of document.querySelectorAll('nav button')) b.addEventListener('click', () => show(b.dataset.view));
  $('#category').addEventListener('change', (e) => {
    const o = e.target.selectedOptions[0];
    $('#filing').textContent = o && o.dataset.filing ? '立案条件：' + o.dataset.filing : '';
  });
  $('#photo').addEventListener('change', async (e) => {
    const f = e.target.files[0];
    photo = f ? await shrink(f) : null;
    $('#preview').src = photo || '';
    $('#preview').hidden = !photo;
  });
  $('#self').addEventListener('change', (e) => { $('#self-fields').hidden = !e.target.checked; });
  $('#after').addEventListener('change', async (e) => {
    const f = e.target.files[0];
    after = f ? await shrink(f) : null;
  });
  if (navigator.geolocation) {
    navigator.geolocation.watchPosition((p) => {
      position = { lat: p.coords.latitude, lon: p.coords.longitude };
      $('#position').textContent = `位置 ${position.lat.toFixed(5)}, ${position.lon.toFixed(5)}（±${Math.round(p.coords.accuracy)} 米）`;
    }, () => { $('#position').textContent = '无法定位：请允许使用位置。'; }, { enableHighAccuracy: true, maximumAge: 30000 });
  }
  // On duty, the phone tells the centre where it is every 30 seconds; a
  // position missed for want of signal is simply not sent.
  $('#duty').checked = store.get('duty', false);
  $('#duty').addEventListener('change', (e) => { store.set('duty', e.target.checked); patrol(); });
  setInterval(patrol, 30000);
  window.addEventListener('online', () => { render(); flush(); });
  window.addEventListener('offline', render);
  setInterval(flush, 10000);
  if ('serviceWorker' in navigator) navigator.serviceWorker.register('/field/sw.js').catch(() => {});
  start();
});
