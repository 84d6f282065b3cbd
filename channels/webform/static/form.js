// The citizen form works without this script; it only adds the location
// button, early photo checks and a guard against double submission.
(function () {
  "use strict";
  var form = document.getElementById("report");
  if (!form) return;
  var text = document.getElementById("text");
  var count = document.getElementById("count");
  var photos = document.getElementById("photos");
  var photoStatus = document.getElementById("photo-status");
  var submit = document.getElementById("submit");
  var MAX_PHOTOS = 5, MAX_BYTES = 10 * 1024 * 1024;
  var TYPES = ["image/jpeg", "image/png", "image/webp"];

  function updateCount() { count.textContent = Array.from(text.value).length; }
  text.addEventListener("input", updateCount);
  updateCount();

  document.getElementById("locate").addEventListener("click", function () {
    var status = document.getElementById("locate-status");
    if (!navigator.geolocation) { status.textContent = "此浏览器不支持定位，请填写地址。"; return; }
    status.textContent = "正在定位…";
    navigator.geolocation.getCurrentPosition(function (pos) {
      document.getElementById("lat").value = pos.coords.latitude.toFixed(6);
      document.getElementById("lon").value = pos.coords.longitude.toFixed(6);
      status.textContent = "已定位（精度约 " + Math.round(pos.coords.accuracy) + " 米）";
    }, function () {
      status.textContent = "未能定位，请填写地址。";
    }, { enableHighAccuracy: true, timeout: 10000 });
  });

  function photoProblem() {
    var files = photos.files;
    if (files.length > MAX_PHOTOS) return "最多上传 " + MAX_PHOTOS + " 张照片。";
    for (var i = 0; i < files.length; i++) {
      if (files[i].size > MAX_BYTES) return "照片“" + files[i].name + "”超过10MB。";
      if (TYPES.indexOf(files[i].type) < 0) return "“" + files[i].name + "”不是 JPEG、PNG 或 WebP 照片。";
    }
    return "";
  }
  photos.addEventListener("change", function () {
    var p = photoProblem();
    photoStatus.textContent = p || (photos.files.length ? "已选择 " + photos.files.length + " 张照片" : "");
    photoStatus.className = p ? "hint bad" : "hint";
  });

  form.addEventListener("submit", function (ev) {
    var p = photoProblem();
    if (p) { ev.preventDefault(); photoStatus.textContent = p; photoStatus.className = "hint bad"; return; }
    if (!text.value.trim()) { ev.preventDefault(); text.focus(); return; }
    // The idempotency key makes a second post harmless; this just says so.
    submit.disabled = true;
    submit.textContent = "正在提交…";
  });

  var err = document.getElementById("form-error");
  if (err) {
    var field = { text: "text", photos: "photos", address: "address", category: "category",
      "contact.phone": "phone", "contact.name": "name" }[err.dataset.field];
    if (field) document.getElementById(field).focus();
  }
})();
