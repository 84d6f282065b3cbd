// The agent page: live state and screen pops over server-sent events, and
// the ticket form. No framework: a few elements kept in step with events.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const stateNames = {available: "示闲", on_call: "通话中", wrap_up: "话后处理", break: "示忙", logged_out: "未登录话机"};
  const popNames = {ringing: "振铃中", answered: "通话中", missed: "未接（已转他人）", ended: "已挂机"};
  const statusNames = {received: "已受理", registered: "已立案", dispatched: "已派遣", accepted: "已签收",
    returned: "已退回", handled: "已处置", closed: "已结案", resolved_on_contact: "直办", not_registered: "不予立案", merged: "已并单"};

  function showState(s) {
    const el = $("state");
    el.textContent = stateNames[s.state] || s.state;
    el.className = "state " + s.state;
    if (!s.registered) el.textContent += "（话机未注册）";
  }

  function showPop(p) {
    const callEl = $("call");
    if (p.kind === "missed" && callEl.dataset.callId !== p.call_id) return;
    const fresh = callEl.dataset.callId !== p.call_id;
    if (fresh) {
      callEl.dataset.callId = p.call_id;
      $("f_call_id").value = p.call_id;
      $("f_line").value = p.line;
      $("f_seq").value = "1";
      $("f_caller").value = p.caller || "";
      $("f_text").value = "";
      $("result").textContent = "";
      // A new caller: no article of the last call is theirs.
      $("f_article").value = "";
      $("f_direct").checked = false;
      $("answerbox").hidden = true;
      $("f_answer").value = "";
      kbSeq++;
      showKB([]);
      schedulePreview(0);
    }
    $("nocall").hidden = true;
    $("callinfo").hidden = false;
    $("caller").textContent = p.caller || "（号码未显示）";
    // The "ended" pop carries only the call, line number and caller: for
    // the call on screen, keep the line's name and the earlier tickets
    // while the agent finishes the ticket.
    if (fresh || p.line_label) $("line").textContent = p.line_label || p.line;
    $("callstate").textContent = popNames[p.kind] || p.kind;
    if (!fresh && !p.earlier) return;
    const ul = $("earlier");
    ul.replaceChildren();
    for (const t of p.earlier || []) {
      const li = document.createElement("li");
      li.textContent = t.number + " · " + (statusNames[t.status] || t.status) + " · " +
        (t.category_name || t.category || "未分类") + " · " + t.summary;
      ul.append(li);
    }
    if (!(p.earlier || []).length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = "无";
      ul.append(li);
    }
  }

  const es = new EventSource("/agent/events");
  es.addEventListener("state", (e) => showState(JSON.parse(e.data)));
  es.addEventListener("pop", (e) => showPop(JSON.parse(e.data)));

  async function setState(state) {
    const body = new URLSearchParams({state});
    const res = await fetch("/agent/state", {method: "POST", body});
    const j = await res.json();
    if (res.ok) showState(j); else alert(j.error.message);
  }
  $("available").addEventListener("click", () => setState("available"));
  $("break").addEventListener("click", () => setState("break"));
  $("f_direct").addEventListener("change", (e) => { $("answerbox").hidden = !e.target.checked; });

  // 系统分拨预览: routing's view of the form while the agent types. Asked
  // 600 ms after the last keystroke, so at most that often, and only once
  // the text says something; an older answer never replaces a newer one.
  const previewDelay = 600, previewMinChars = 6;
  const priorityNames = {normal: "一般", urgent: "紧急", emergency: "特急"};
  let previewTimer = 0, previewSeq = 0, previewAbort = null;

  function schedulePreview(delay) {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(preview, delay === undefined ? previewDelay : delay);
  }

  function previewHint(hint, error) {
    $("pv_hint").hidden = !hint;
    $("pv_error").hidden = !error;
    $("pv_error").textContent = error || "";
    $("pv_body").hidden = !!(hint || error);
  }

  async function preview() {
    const text = $("f_text").value.trim();
    const seq = ++previewSeq;
    if (previewAbort) previewAbort.abort();
    previewAbort = null;
    if ([...text].length < previewMinChars) {
      previewHint(true, "");
      return;
    }
    previewAbort = new AbortController();
    $("preview").classList.add("stale");
    const body = new URLSearchParams({text, address: $("f_address").value, category: $("f_category").value, line: $("f_line").value});
    try {
      const res = await fetch("/agent/preview", {method: "POST", body, signal: previewAbort.signal});
      const j = await res.json();
      if (seq !== previewSeq) return;
      if (!res.ok) {
        const field = {category: "分类代码", address: "地址", text: "诉求内容"}[j.error.field];
        throw new Error((field ? field + "：" : "") + j.error.message);
      }
      showPreview(j);
      previewHint(false, "");
    } catch (err) {
      if (seq !== previewSeq) return;
      previewHint(false, "无法预览分拨：" + err.message);
    } finally {
      if (seq === previewSeq) $("preview").classList.remove("stale");
    }
  }

  function pad(n) { return String(n).padStart(2, "0"); }

  function showPreview(p) {
    const ul = $("pv_suggestions");
    ul.replaceChildren();
    for (const s of p.suggestions) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "chip" + (s.category === p.category ? " on" : "");
      b.dataset.category = s.category;
      b.textContent = (s.name || s.category) + " " + Math.round(s.confidence * 100) + "%";
      b.title = "分类代码 " + s.category;
      const li = document.createElement("li");
      li.append(b);
      ul.append(li);
    }
    if (!p.suggestions.length) ul.textContent = "无";
    $("pv_category").textContent = p.category ? (p.category_name || p.category) + "（" + p.category + "）" : "未能确定";
    $("pv_department").textContent = p.department ? (p.department_name || p.department) : "待派单员确定";
    const area = [p.area.grid, p.area.street, p.area.district].filter(Boolean);
    $("pv_area").textContent = area.length ? area.join(" / ") : "未定位";
    const d = p.deadline ? new Date(p.deadline) : null;
    $("pv_deadline").textContent = d ? d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) : "派单时确定";
    $("pv_priority").textContent = priorityNames[p.priority] || p.priority || "—";
    const how = $("pv_dispatch");
    how.textContent = p.auto_dispatch ? "提交后自动派单" : "待人工派单";
    how.className = p.auto_dispatch ? "auto" : "manual";
    $("pv_reason").textContent = p.reason || "—";
    const near = $("pv_nearby");
    near.replaceChildren();
    for (const t of p.nearby) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = "/desk/tickets/" + encodeURIComponent(t.number);
      a.target = "_blank";
      a.rel = "noopener";
      a.textContent = t.number;
      li.append(a, " · " + t.status_label + " · 相距 " + t.distance_m + " 米 · " + t.summary);
      near.append(li);
    }
    if (!p.nearby.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = "无";
      near.append(li);
    }
  }

  for (const id of ["f_text", "f_address", "f_category"]) $(id).addEventListener("input", () => schedulePreview());

  // 知识库推荐: the articles that answer what the agent has typed so far,
  // asked a moment after the last keystroke from the second character on.
  // "答复并直办" puts the article's answer in the form and closes the call
  // as answered on contact with the article linked; a ticket logged anyway
  // records the article offered first (the caller needed more than it).
  const kbDelay = 250, kbMinChars = 2, kbGood = 0.5;
  let kbTimer = 0, kbSeq = 0;
  async function searchKB() {
    const text = $("f_text").value.trim();
    const seq = ++kbSeq;
    if ([...text].length < kbMinChars) { showKB([]); return; }
    try {
      const res = await fetch("/agent/kb", {method: "POST", body: new URLSearchParams({text})});
      const j = await res.json();
      if (seq !== kbSeq) return;
      if (!res.ok) throw new Error(j.error.message);
      showKB(j.articles);
    } catch (err) {
      if (seq === kbSeq) { showKB([]); $("kb_hint").textContent = "知识库暂不可用：" + err.message; }
    }
  }
  function showKB(articles) {
    const ol = $("kb");
    ol.replaceChildren();
    $("kb_hint").hidden = articles.length > 0;
    $("kb_hint").textContent = "输入诉求内容，这里显示知识库中可直接答复的政策问答。";
    $("f_shown").value = articles.length && articles[0].score >= kbGood ? String(articles[0].id) : "";
    for (const a of articles) {
      const li = document.createElement("li");
      li.dataset.article = a.id;
      const q = document.createElement("div");
      q.className = "q";
      q.textContent = a.question;
      const ans = document.createElement("div");
      ans.className = "a";
      ans.textContent = a.answer;
      const use = document.createElement("button");
      use.type = "button";
      use.className = "use";
      use.textContent = "答复并直办";
      use.addEventListener("click", () => {
        $("f_article").value = String(a.id);
        $("f_direct").checked = true;
        $("answerbox").hidden = false;
        $("f_answer").value = a.answer;
      });
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = " 匹配度 " + Math.round(a.score * 100) + "%";
      li.append(q, ans, use, score);
      ol.append(li);
    }
  }
  $("f_text").addEventListener("input", () => { clearTimeout(kbTimer); kbTimer = setTimeout(searchKB, kbDelay); });
  // Unticking 直办 unlinks the article: the call becomes a ticket.
  $("f_direct").addEventListener("change", (e) => { if (!e.target.checked) $("f_article").value = ""; });
  // A suggestion the agent picks becomes the category; the preview follows at once.
  $("pv_suggestions").addEventListener("click", (e) => {
    const b = e.target.closest("button[data-category]");
    if (!b) return;
    $("f_category").value = b.dataset.category;
    schedulePreview(0);
  });

  $("ticket").addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $("result");
    out.className = "";
    out.textContent = "提交中…";
    try {
      const res = await fetch("/agent/tickets", {method: "POST", body: new URLSearchParams(new FormData(e.target))});
      const j = await res.json();
      if (!res.ok) throw new Error(j.error.message);
      out.className = "ok";
      out.textContent = "工单号 " + j.number + "（" + (statusNames[j.status] || j.status) + "）";
      out.dataset.number = j.number;
      $("f_seq").value = String(Number($("f_seq").value) + 1);
      $("f_article").value = "";
    } catch (err) {
      out.className = "err";
      out.textContent = "未能提交：" + err.message;
    }
  });
})();
