// The review page's photos: a large view with previous/next by keyboard (← →), swipe and
// buttons, zoom (+ − 0, the buttons, a double click, a pinch), videos played as they are; Esc
// closes it (the dialog's own). A reviewer's "which step" is saved at once, the page staying as
// it is (nothing ticked or typed is lost), and the step's row shows the photo. No framework, no
// inline script (the CSP forbids it). Without this script the thumbnails are links to the
// screen-size copy and the step forms post as plain forms.
(function () {
  "use strict";
  var section = document.querySelector(".photos");
  var view = document.querySelector(".photo-view");
  if (!section || !view) { return; }
  section.classList.add("scripted");
  var thumbs = Array.prototype.slice.call(section.querySelectorAll("[data-photo]"));
  var stage = view.querySelector("[data-photo-stage]");
  var large = view.querySelector("[data-photo-large]");
  var video = view.querySelector("[data-photo-video]");
  var caption = view.querySelector("[data-photo-caption]");
  var levelText = view.querySelector("[data-photo-zoom-level]");
  var viewStep = view.querySelector("[data-photo-view-step]");
  var zoomButtons = view.querySelectorAll("[data-photo-zoom-in], [data-photo-zoom-out], [data-photo-zoom-fit]");
  var current = 0;
  var zoom = 1;
  var ZOOMS = [1, 1.5, 2, 3, 4, 6];

  function isVideo() { return thumbs[current].getAttribute("data-kind") === "video"; }

  function cellOf(thumb) { return thumb.closest(".photo-cell"); }

  function applyZoom(focusX, focusY) {
    if (isVideo()) { zoom = 1; }
    var fit = 1;
    if (large.naturalWidth && large.naturalHeight) {
      fit = Math.min(stage.clientWidth / large.naturalWidth, stage.clientHeight / large.naturalHeight, 1);
    }
    var before = { w: large.clientWidth || 1, left: stage.scrollLeft, top: stage.scrollTop };
    stage.classList.toggle("zoomed", zoom > 1);
    large.style.width = zoom > 1 ? Math.round(large.naturalWidth * fit * zoom) + "px" : "";
    levelText.textContent = Math.round(zoom * 100) + "%";
    if (zoom > 1) {
      // Keep the point under the finger or the pointer (else the centre) where it was.
      var ratio = large.clientWidth / before.w;
      var fx = focusX === undefined ? stage.clientWidth / 2 : focusX;
      var fy = focusY === undefined ? stage.clientHeight / 2 : focusY;
      stage.scrollLeft = (before.left + fx) * ratio - fx;
      stage.scrollTop = (before.top + fy) * ratio - fy;
    }
  }

  function setZoom(level, x, y) {
    zoom = Math.max(1, Math.min(ZOOMS[ZOOMS.length - 1], level));
    applyZoom(x, y);
  }

  function step(direction) {
    var i = 0;
    while (i < ZOOMS.length && ZOOMS[i] <= zoom + 0.01) { i += 1; }
    if (direction > 0) { setZoom(i < ZOOMS.length ? ZOOMS[i] : zoom); return; }
    var j = ZOOMS.length - 1;
    while (j >= 0 && ZOOMS[j] >= zoom - 0.01) { j -= 1; }
    setZoom(j >= 0 ? ZOOMS[j] : 1);
  }

  function show(i) {
    current = (i + thumbs.length) % thumbs.length;
    var t = thumbs[current];
    zoom = 1;
    stage.classList.remove("zoomed");
    large.style.width = "";
    if (isVideo()) {
      large.hidden = true;
      large.removeAttribute("src");
      video.hidden = false;
      video.src = t.getAttribute("href");
    } else {
      video.pause();
      video.hidden = true;
      video.removeAttribute("src");
      large.hidden = false;
      large.src = t.getAttribute("href");
      var img = t.querySelector("img");
      large.alt = img ? img.alt : "";
    }
    levelText.textContent = "100%";
    for (var b = 0; b < zoomButtons.length; b += 1) { zoomButtons[b].disabled = isVideo(); }  // the player has its own full screen
    caption.textContent = (current + 1) + " of " + thumbs.length + " · " + t.getAttribute("data-caption");
    if (viewStep) {
      var select = cellOf(t).querySelector("select[name=step]");
      viewStep.value = select ? select.value : "";
    }
    if (!view.open) { view.showModal(); }
    stage.focus({ preventScroll: true });
  }

  function openIndex(index) {
    for (var k = 0; k < thumbs.length; k += 1) {
      if (thumbs[k].getAttribute("data-photo") === String(index)) { show(k); return true; }
    }
    return false;
  }

  thumbs.forEach(function (t, i) {
    t.addEventListener("click", function (e) { e.preventDefault(); show(i); });
  });
  document.addEventListener("click", function (e) {
    var link = e.target.closest ? e.target.closest("[data-open-photo]") : null;
    if (link && openIndex(link.getAttribute("data-open-photo"))) { e.preventDefault(); }
  });
  large.addEventListener("load", function () { applyZoom(); });
  view.querySelector("[data-photo-prev]").addEventListener("click", function () { show(current - 1); });
  view.querySelector("[data-photo-next]").addEventListener("click", function () { show(current + 1); });
  view.querySelector("[data-photo-zoom-in]").addEventListener("click", function () { step(1); });
  view.querySelector("[data-photo-zoom-out]").addEventListener("click", function () { step(-1); });
  view.querySelector("[data-photo-zoom-fit]").addEventListener("click", function () { setZoom(1); });
  view.querySelector("[data-photo-close]").addEventListener("click", function () { view.close(); });
  view.addEventListener("close", function () { video.pause(); });
  large.addEventListener("dblclick", function (e) {
    var box = stage.getBoundingClientRect();
    setZoom(zoom > 1 ? 1 : 2.5, e.clientX - box.left, e.clientY - box.top);
  });
  view.addEventListener("keydown", function (e) {
    if (e.target && (e.target.tagName === "SELECT" || e.target.tagName === "VIDEO")) { return; }
    var handled = true;
    if (e.key === "ArrowLeft") { show(current - 1); }
    else if (e.key === "ArrowRight") { show(current + 1); }
    else if (e.key === "+" || e.key === "=") { step(1); }
    else if (e.key === "-") { step(-1); }
    else if (e.key === "0") { setZoom(1); }
    else { handled = false; }
    if (handled) { e.preventDefault(); e.stopPropagation(); }
  });

  // Touch: one finger swipes to the next photo (when not zoomed in; zoomed, it pans), two
  // fingers pinch the zoom.
  var startX = null;
  var pinch = null;
  function spread(touches) {
    return Math.hypot(touches[0].clientX - touches[1].clientX, touches[0].clientY - touches[1].clientY);
  }
  stage.addEventListener("touchstart", function (e) {
    if (e.touches.length === 2) {
      var box = stage.getBoundingClientRect();
      pinch = {
        distance: spread(e.touches), zoom: zoom,
        x: (e.touches[0].clientX + e.touches[1].clientX) / 2 - box.left,
        y: (e.touches[0].clientY + e.touches[1].clientY) / 2 - box.top,
      };
      startX = null;
    } else if (e.touches.length === 1 && zoom === 1) {
      startX = e.touches[0].clientX;
    }
  }, { passive: true });
  stage.addEventListener("touchmove", function (e) {
    if (pinch && e.touches.length === 2) {
      e.preventDefault();
      setZoom(pinch.zoom * spread(e.touches) / pinch.distance, pinch.x, pinch.y);
    }
  }, { passive: false });
  stage.addEventListener("touchend", function (e) {
    if (pinch && e.touches.length < 2) { pinch = null; return; }
    if (startX === null) { return; }
    var dx = e.changedTouches[0].clientX - startX;
    if (Math.abs(dx) > 40) { show(current + (dx < 0 ? 1 : -1)); }
    startX = null;
  });

  // Which step a photo shows: saved at once; the step's row shows the photo.
  function showInStepRows(cell, stepNumber) {
    var index = cell.querySelector("[data-photo]");
    var id = cell.getAttribute("data-photo-id");
    document.querySelectorAll('[data-step-photos] [data-cell="' + id + '"]').forEach(function (old) {
      old.remove();
    });
    if (!stepNumber) { return; }
    var row = document.querySelector('[data-step-photos="' + stepNumber + '"]');
    if (!row) { return; }
    var link = document.createElement("a");
    link.className = "step-photo";
    link.setAttribute("data-cell", id);
    var img = cell.querySelector(".photo-thumb img");
    if (index) {
      link.href = index.getAttribute("href");
      link.setAttribute("data-open-photo", index.getAttribute("data-photo"));
    } else {
      link.href = "#photo-" + id;
    }
    if (img) {
      var small = document.createElement("img");
      small.src = img.src;
      small.alt = img.alt;
      small.width = 44;
      small.height = 44;
      link.appendChild(small);
    } else {
      link.textContent = index && index.getAttribute("data-kind") === "video" ? "▶" : "#";
    }
    row.appendChild(link);
  }

  section.querySelectorAll("form[data-photo-step]").forEach(function (form) {
    var select = form.querySelector("select[name=step]");
    var cell = form.closest(".photo-cell");
    select.addEventListener("change", async function () {
      form.classList.remove("saved", "failed");
      var token = form.querySelector("input[name=csrf]").value;
      try {
        var response = await fetch(form.action, {
          method: "POST",
          credentials: "same-origin",
          headers: { Accept: "application/json", "x-csrf-token": token },
          body: new URLSearchParams(new FormData(form)),
        });
        if (!response.ok) { throw new Error(String(response.status)); }
        form.classList.add("saved");
        showInStepRows(cell, select.value);
      } catch (err) {
        // Not saved (offline, logged out): say so and offer the plain form's button.
        form.classList.add("failed");
        section.classList.remove("scripted");
        select.title = "Not saved: press Mark to try again";
      }
    });
  });
  if (viewStep) {
    viewStep.addEventListener("change", function () {
      var select = cellOf(thumbs[current]).querySelector("select[name=step]");
      if (!select) { return; }
      select.value = viewStep.value;
      select.dispatchEvent(new Event("change"));
    });
  }
})();
