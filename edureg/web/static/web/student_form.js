/* Student edit form: dependent code-list selects and field checks as the user leaves a field.
   The form works without this script; the server checks everything again on save. */
(function () {
  "use strict";

  var form = document.querySelector("form.student-form");
  if (!form) { return; }
  var checkUrl = form.getAttribute("data-check-url");
  var identity = ["personal_id_number", "date_of_birth", "sex"];
  var lastChecked = {};
  /* Answers may arrive out of order: show only the newest per field, and the newest identity
     check's warnings (the ID number is compared with the birth date and sex). */
  var counter = 0;
  var newest = {};

  function warningKey(name) {
    return identity.indexOf(name) >= 0 ? "identity" : name;
  }

  function messageBox(name) {
    return document.getElementById("id_" + name + "_msg");
  }

  function addMessage(box, cls, text) {
    var p = document.createElement("p");
    p.className = cls;
    p.textContent = text;
    box.appendChild(p);
  }

  function clear(box, cls) {
    Array.prototype.slice.call(box.querySelectorAll("." + cls)).forEach(function (node) {
      node.remove();
    });
  }

  function showResult(name, result, number) {
    var box = messageBox(name);
    var input = form.elements[name];
    if (!box || !input) { return; }
    if (newest[name] === number) {
      clear(box, "field-error");
      result.errors.forEach(function (text) { addMessage(box, "field-error", text); });
      input.setAttribute("aria-invalid", result.errors.length ? "true" : "false");
      box.parentNode.classList.toggle("has-error", result.errors.length > 0);
    }
    if (newest["warnings:" + warningKey(name)] !== number) { return; }
    var warned = identity.indexOf(name) >= 0 ? identity : [name];
    warned.forEach(function (other) {
      var otherBox = messageBox(other);
      if (otherBox) { clear(otherBox, "field-warning"); }
    });
    result.warnings.forEach(function (warning) {
      var target = messageBox(warning.field) || box;
      addMessage(target, "field-warning", warning.message);
    });
  }

  function check(name) {
    var input = form.elements[name];
    if (!checkUrl || !input || input.disabled) { return; }
    if (lastChecked[name] === input.value) { return; }
    lastChecked[name] = input.value;
    var number = ++counter;
    newest[name] = number;
    newest["warnings:" + warningKey(name)] = number;
    var data = new FormData(form);
    data.append("field", name);
    fetch(checkUrl, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" }
    }).then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.json();
    }).then(function (result) {
      showResult(name, result, number);
    }).catch(function () {
      delete lastChecked[name];  /* checked again on save */
    });
  }

  function option(value, label) {
    var node = document.createElement("option");
    node.value = value;
    node.textContent = label;
    return node;
  }

  function resetChild(select) {
    var placeholder = select.options.length ? select.options[0].textContent : "";
    select.innerHTML = "";
    select.appendChild(option("", placeholder));
    var grandchild = document.getElementById(select.getAttribute("data-child") || "");
    if (grandchild) { resetChild(grandchild); }
  }

  function loadChildren(parent) {
    var child = document.getElementById(parent.getAttribute("data-child"));
    if (!child) { return; }
    resetChild(child);
    if (!parent.value) { return; }
    var url = parent.getAttribute("data-children-url") + "?" +
      encodeURIComponent(parent.getAttribute("data-children-param")) + "=" +
      encodeURIComponent(parent.value);
    child.setAttribute("aria-busy", "true");
    fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.json();
    }).then(function (result) {
      result.items.forEach(function (item) { child.appendChild(option(item.code, item.name)); });
    }).catch(function () {
      /* Leave only the placeholder; the server keeps the rule that the child must match. */
    }).then(function () {
      child.removeAttribute("aria-busy");
    });
  }

  form.addEventListener("change", function (event) {
    var target = event.target;
    if (target.tagName === "SELECT" && target.hasAttribute("data-child")) {
      loadChildren(target);
    }
    if (target.tagName === "SELECT" && target.name) {
      check(target.name);
    }
  });

  form.addEventListener("focusout", function (event) {
    var target = event.target;
    if (target.tagName === "INPUT" && target.name && target.type !== "hidden") {
      check(target.name);
    }
  });

  Array.prototype.forEach.call(form.elements, function (element) {
    if (element.name) { lastChecked[element.name] = element.value; }
  });

  var summary = document.getElementById("form-errors");
  if (summary) { summary.focus(); }
})();
