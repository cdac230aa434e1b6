// The review page's photos: a large view with previous/next by keyboard (← →), swipe and
// buttons; Esc closes it (the dialog's own). No framework, no inline script (the CSP forbids it).
(function () {
  "use strict";
  var thumbs = Array.prototype.slice.call(document.querySelectorAll("[data-photo]"));
  var view = document.querySelector(".photo-view");
  if (!thumbs.length || !view) { return; }
  var large = view.querySelector("[data-photo-large]");
  var caption = view.querySelector("[data-photo-caption]");
  var current = 0;
  function show(i) {
    current = (i + thumbs.length) % thumbs.length;
    var t = thumbs[current];
    large.src = t.getAttribute("data-screen");
    large.alt = t.querySelector("img").alt;
    caption.textContent = (current + 1) + " of " + thumbs.length + " · " + t.getAttribute("data-caption");
    if (!view.open) { view.showModal(); }
  }
  thumbs.forEach(function (t, i) { t.addEventListener("click", function () { show(i); }); });
  view.querySelector("[data-photo-prev]").addEventListener("click", function () { show(current - 1); });
  view.querySelector("[data-photo-next]").addEventListener("click", function () { show(current + 1); });
  view.querySelector("[data-photo-close]").addEventListener("click", function () { view.close(); });
  view.addEventListener("keydown", function (e) {
    if (e.key === "ArrowLeft") { show(current - 1); e.preventDefault(); }
    if (e.key === "ArrowRight") { show(current + 1); e.preventDefault(); }
  });
  var startX = null;
  view.addEventListener("touchstart", function (e) { startX = e.touches[0].clientX; }, { passive: true });
  view.addEventListener("touchend", function (e) {
    if (startX === null) { return; }
    var dx = e.changedTouches[0].clientX - startX;
    if (Math.abs(dx) > 40) { show(current + (dx < 0 ? 1 : -1)); }
    startX = null;
  });
})();
