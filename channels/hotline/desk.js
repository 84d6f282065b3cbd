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
    } catch (err) {
      out.className = "err";
      out.textContent = "未能提交：" + err.message;
    }
  });
})();
