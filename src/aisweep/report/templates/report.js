(function () {
  "use strict";
  var list = document.getElementById("service-list");
  if (!list) { return; }
  var items = Array.prototype.slice.call(list.querySelectorAll("details.svc"));
  var q = document.getElementById("f-text");
  var product = document.getElementById("f-product");
  var severity = document.getElementById("f-severity");
  var tier = document.getElementById("f-tier");
  var withFindings = document.getElementById("f-findings");
  var count = document.getElementById("f-count");
  var rank = { critical: 4, high: 3, medium: 2, low: 1, info: 0, none: -1 };
  function apply() {
    var text = (q.value || "").trim().toLowerCase();
    var shown = 0;
    items.forEach(function (el) {
      var ok = (!text || el.getAttribute("data-text").indexOf(text) !== -1) &&
        (!product.value || el.getAttribute("data-product") === product.value) &&
        (!tier.value || el.getAttribute("data-tier") === tier.value) &&
        (!severity.value || rank[el.getAttribute("data-severity")] >= rank[severity.value]) &&
        (!withFindings.checked || el.getAttribute("data-severity") !== "none");
      el.classList.toggle("hidden", !ok);
      if (ok) { shown += 1; }
    });
    count.textContent = shown + " of " + items.length + " services";
  }
  [q, product, severity, tier, withFindings].forEach(function (el) {
    el.addEventListener("input", apply);
    el.addEventListener("change", apply);
  });
  document.querySelectorAll("a[data-product-filter]").forEach(function (a) {
    a.addEventListener("click", function () {
      product.value = a.getAttribute("data-product-filter");
      apply();
    });
  });
  apply();
})();
