// The review page: zoom for document images (a static file; the CSP allows no inline script).
// Without JavaScript, a click on an image still opens it at full size in the frame (CSS).
(function () {
  "use strict";
  var STEPS = [1, 1.5, 2, 3, 4];

  function setup(figure) {
    var image = figure.querySelector("img.zoomable");
    var controls = figure.querySelector(".zoom-controls");
    if (!image || !controls) {
      return;
    }
    var step = 0;
    function apply() {
      image.style.width = STEPS[step] * 100 + "%";
      image.style.maxWidth = step === 0 ? "100%" : "none";
      image.classList.toggle("zoomed", step > 0);
    }
    controls.hidden = false;
    controls.addEventListener("click", function (event) {
      var action = event.target.getAttribute("data-zoom");
      if (action === "in") {
        step = Math.min(step + 1, STEPS.length - 1);
      } else if (action === "out") {
        step = Math.max(step - 1, 0);
      } else if (action === "reset") {
        step = 0;
      } else {
        return;
      }
      apply();
    });
    image.addEventListener("click", function () {
      step = step === 0 ? 2 : 0;
      apply();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("figure.document").forEach(setup);
  });
})();
