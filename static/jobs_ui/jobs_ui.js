/*
 * jobs_ui: the little the progress panels need beyond htmx 2.
 * - Polls send the panel's ETag; a 304 keeps the old content.
 * - Polling pauses while the tab is hidden and resumes at once when it shows.
 * - A failed poll shows "Connection lost, retrying" and backs off (htmx does
 *   not swap error responses, so the panel would otherwise freeze). A refused
 *   poll (404: signed out) is tried once more before the panel gives up.
 * - Launch forms show why the server refused (400, 403, 409, 429); a whole
 *   error page (CSRF failure, 500) or no answer becomes a message of the form's
 *   own (data-jobs-ui-error-session, -server, data-jobs-ui-error), or, for a
 *   panel's forms, of this script tag (data-text-*).
 * - A failed cancel says why beside its button, across the panel's polls.
 * - Elapsed time and time left tick between polls.
 * - The forms of a polled panel carry no CSRF token; their posts send the
 *   page's (hx-headers on <body>) or else the CSRF cookie's.
 * - With live push, a panel does not poll while its websocket is open.
 * Options come from this script tag's data-* attributes; no inline script.
 */
(function () {
  "use strict";
  if (window.jobsUi) {
    return;
  }
  var options = (document.currentScript && document.currentScript.dataset) || {};
  var MAX_BACKOFF_MS = Number(options.maxBackoff || 30000);
  var SHOWN_REFUSALS = [400, 403, 409, 429];
  // A sign-in in another tab makes a poll or two 404 while the session changes hands.
  var REFUSED_RETRY_MS = Number(options.refusedRetry || 2000);
  var INDETERMINATE_CYCLE_MS = 1400; // jobs_ui.css: jobs-ui-indeterminate
  // What a panel says when its request fails, in the page's language ({% jobs_ui_head %}):
  // written once per page rather than into every panel a poll brings.
  var TEXT = {
    cancel: [
      options.textCancelError || "The server could not be reached, so the job was not cancelled. Check your connection and try again.",
      options.textCancelErrorSession || "Your session changed in another tab: reload the page and try again.",
      options.textCancelErrorServer || "The server hit an error; the job was not cancelled.",
    ],
    launch: [
      options.textLaunchError || "The server could not be reached. Check your connection and try again.",
      options.textLaunchErrorSession || "Your session changed in another tab: reload the page and try again.",
      options.textLaunchErrorServer || "The server hit an error; the job was not started.",
    ],
    lost: options.textLost || "Connection lost, retrying…",
    gone: options.textGone || "This job can no longer be shown here. Reload the page.",
  };
  // Django's CSRF_COOKIE_NAME and CSRF_HEADER_NAME, from {% jobs_ui_head %}.
  var CSRF_COOKIE = options.csrfCookie || "csrftoken";
  var CSRF_HEADER = options.csrfHeader || "X-CSRFToken";
  var polls = new WeakMap();
  var FINISHED = ["SUCCESSFUL", "FAILED", "CANCELLED"];
  var cancelErrors = new Map(); // job id -> message, shown again in each new panel
  var pendingCancels = new Set(); // job ids whose cancel is on its way
  var clockOffsets = new WeakMap();

  function isPoll(elt) {
    return !!(elt && elt.hasAttribute && elt.hasAttribute("data-jobs-ui-poll"));
  }

  function launcher(elt) {
    return elt && elt.closest ? elt.closest("[data-jobs-ui-launch]") : null;
  }

  function canceller(elt) {
    return elt && elt.closest ? elt.closest("[data-jobs-ui-cancel]") : null;
  }

  function isWholePage(xhr) {
    // jobs_ui and your own views answer fragments; a whole document is an error
    // page of the site or of Django (CSRF failure, 500), not meant for a slot.
    return /^\s*<!doctype|<html[\s>]/i.test((xhr && xhr.responseText) || "");
  }

  function failureMessage(form, status, refusals) {
    // A launch button says its own; a panel's forms say the page's (TEXT).
    var data = form.dataset;
    var own = form.hasAttribute("data-jobs-ui-cancel") ? TEXT.cancel : TEXT.launch;
    var error = data.jobsUiError || own[0];
    if (!status) {
      return error;
    }
    if (refusals.indexOf(status) !== -1) {
      return data.jobsUiErrorSession || own[1] || error;
    }
    return data.jobsUiErrorServer || own[2] || error;
  }

  function showCancelError(panel, message) {
    var note = panel.querySelector("[data-jobs-ui-cancel] .jobs-ui-action-error");
    if (note) {
      note.textContent = message;
      note.hidden = false;
    }
  }

  function panelsOf(jobId) {
    return document.querySelectorAll('.jobs-ui-panel[data-job-id="' + jobId + '"]');
  }

  function pollState(elt) {
    var state = polls.get(elt);
    if (!state) {
      state = { failures: 0, retryAt: 0, stopped: false };
      polls.set(elt, state);
    }
    return state;
  }

  function showConnection(elt, kind) {
    var note = elt.querySelector(".jobs-ui-connection");
    if (!kind) {
      elt.removeAttribute("data-jobs-ui-offline");
      if (note) {
        note.hidden = true;
      }
      return;
    }
    elt.setAttribute("data-jobs-ui-offline", kind);
    if (note) {
      if (kind === "gone") {
        note.textContent = note.dataset.jobsUiGone || TEXT.gone;
      } else if (!note.textContent.trim()) {
        note.textContent = TEXT.lost;
      }
      note.hidden = false;
    }
  }

  function cookie(name) {
    var found = document.cookie.split("; ").filter(function (pair) {
      return pair.slice(0, name.length + 1) === name + "=";
    })[0];
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  function hasHeader(headers, name) {
    return Object.keys(headers).some(function (key) {
      return key.toLowerCase() === name.toLowerCase();
    });
  }

  document.addEventListener("htmx:configRequest", function (evt) {
    var detail = evt.detail;
    var elt = detail.elt;
    if (isPoll(elt) && elt.dataset.jobsUiEtag) {
      detail.headers["If-None-Match"] = elt.dataset.jobsUiEtag;
    }
    // The forms of a panel brought by a poll carry no CSRF token: the page's hx-headers
    // send one, or else the CSRF cookie's is sent here.
    var form = canceller(elt) || launcher(elt);
    if (!form || detail.verb !== "post" || form.querySelector("input[name=csrfmiddlewaretoken]")) {
      return;
    }
    var token = cookie(CSRF_COOKIE);
    if (token && !hasHeader(detail.headers, CSRF_HEADER)) {
      detail.headers[CSRF_HEADER] = token;
    }
  });

  document.addEventListener("htmx:confirm", function (evt) {
    var elt = evt.detail.elt;
    if (elt && elt.hasAttribute && elt.hasAttribute("data-jobs-ui-notify-poll")) {
      // The toasts' fallback: only while the tab shows and its socket is not open.
      if (document.hidden || document.querySelector("[data-jobs-ui-notifications][data-jobs-ui-push-open]")) {
        evt.preventDefault();
      }
      return;
    }
    if (!isPoll(elt) || evt.detail.verb !== "get") {
      return;
    }
    var state = pollState(elt);
    // No poll while a cancel is on its way: it would replace the form that waits for the answer;
    // none while the panel's websocket is open: it pushes each change.
    if (
      document.hidden ||
      state.stopped ||
      Date.now() < state.retryAt ||
      pendingCancels.has(elt.dataset.jobId) ||
      elt.closest("[data-jobs-ui-push-open]")
    ) {
      evt.preventDefault();
    }
  });

  // Live push (JOBS_UI["WEBSOCKETS"]): the element around a panel joins its job's websocket
  // (htmx's ws extension), which sends the panel again after each change, then closes. While
  // it is open the panel does not poll; when it closes or cannot open, polling goes on at the
  // next tick, and stops again once the extension has reconnected.
  if (window.htmx && (!htmx.config.wsReconnectDelay || htmx.config.wsReconnectDelay === "full-jitter")) {
    // Back to push soon after the server is: at most about 10 s between two tries (the
    // extension's own delay grows to a minute). A project's own setting is kept.
    htmx.config.wsReconnectDelay = function (retryCount) {
      var delay = Math.min(10000, 500 * Math.pow(2, retryCount));
      return delay / 2 + (Math.random() * delay) / 2;
    };
  }
  document.addEventListener("htmx:wsOpen", function (evt) {
    evt.detail.elt.setAttribute("data-jobs-ui-push-open", "");
  });
  ["htmx:wsClose", "htmx:wsError"].forEach(function (name) {
    document.addEventListener(name, function (evt) {
      evt.detail.elt.removeAttribute("data-jobs-ui-push-open");
    });
  });
  document.addEventListener("htmx:wsAfterMessage", function (evt) {
    // What a final poll says with HX-Trigger, a final push says here.
    evt.detail.elt.querySelectorAll(".jobs-ui-panel").forEach(function (panel) {
      var status = panel.dataset.jobStatus;
      if (FINISHED.indexOf(status) !== -1 && !panel.hasAttribute("data-jobs-ui-announced")) {
        panel.setAttribute("data-jobs-ui-announced", "");
        panel.dispatchEvent(
          new CustomEvent("jobs-ui:job-finished", { bubbles: true, detail: { id: panel.dataset.jobId, status: status } })
        );
      }
    });
  });

  document.addEventListener("htmx:beforeSwap", function (evt) {
    var detail = evt.detail;
    var status = detail.xhr.status;
    if (detail.target && !detail.target.isConnected) {
      // A poll and a cancel crossed: the panel this answer was for is already replaced.
      detail.shouldSwap = false;
      detail.isError = false;
    } else if (status === 304) {
      detail.shouldSwap = false;
      detail.isError = false;
    } else if (
      SHOWN_REFUSALS.indexOf(status) !== -1 &&
      launcher(detail.requestConfig && detail.requestConfig.elt) &&
      !isWholePage(detail.xhr)
    ) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
  });

  document.addEventListener("htmx:beforeRequest", function (evt) {
    var form = canceller(evt.detail.elt);
    var panel = form && form.closest(".jobs-ui-panel");
    if (!panel) {
      return;
    }
    var jobId = panel.dataset.jobId;
    cancelErrors.delete(jobId);
    pendingCancels.add(jobId);
    var note = form.querySelector(".jobs-ui-action-error");
    if (note) {
      note.hidden = true;
    }
    // Listened to on the form itself: a poll that was already on its way may
    // replace the panel, and a detached form's events do not reach the document.
    form.addEventListener(
      "htmx:afterRequest",
      function (done) {
        pendingCancels.delete(jobId);
        if (done.detail.successful) {
          return;
        }
        var message = failureMessage(form, done.detail.xhr ? done.detail.xhr.status : 0, [403, 404]);
        if (message) {
          cancelErrors.set(jobId, message);
          panelsOf(jobId).forEach(function (current) {
            showCancelError(current, message);
          });
        }
      },
      { once: true }
    );
  });

  document.addEventListener("htmx:afterRequest", function (evt) {
    var elt = evt.detail.elt;
    var status = evt.detail.xhr ? evt.detail.xhr.status : 0;
    if (isPoll(elt) && (evt.detail.successful || status === 304)) {
      var state = pollState(elt);
      state.refused = false;
      if (state.failures) {
        state.failures = 0;
        state.retryAt = 0;
        showConnection(elt, null);
      }
    }
  });

  function failed(evt) {
    var elt = evt.detail.elt;
    var status = evt.detail.xhr ? evt.detail.xhr.status : 0;
    if (isPoll(elt)) {
      var state = pollState(elt);
      if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
        if (!state.refused) {
          state.refused = true;
          state.retryAt = Date.now() + REFUSED_RETRY_MS;
          return;
        }
        // Gone or no longer ours (signed out): asking again will not help.
        state.stopped = true;
        showConnection(elt, "gone");
        return;
      }
      state.failures += 1;
      var interval = Number(elt.dataset.jobsUiInterval || 1000);
      state.retryAt = Date.now() + Math.min(MAX_BACKOFF_MS, interval * Math.pow(2, state.failures));
      showConnection(elt, "lost");
      return;
    }
    var form = launcher(elt);
    var target = evt.detail.target;
    var text = form && failureMessage(form, status, [403]);
    if (form && target && text) {
      var alert = document.createElement("div");
      alert.className = "jobs-ui-alert";
      alert.setAttribute("role", "alert");
      alert.setAttribute("data-testid", "launch-error");
      alert.textContent = text;
      if (target.classList.contains("jobs-ui-panel")) {
        target.querySelectorAll(".jobs-ui-alert").forEach(function (old) {
          old.remove();
        });
        target.appendChild(alert);
      } else {
        target.replaceChildren(alert);
      }
    }
  }

  document.addEventListener("htmx:responseError", failed);
  document.addEventListener("htmx:sendError", failed);
  document.addEventListener("htmx:timeout", failed);

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      return;
    }
    document.querySelectorAll("[data-jobs-ui-poll]").forEach(function (elt) {
      var state = pollState(elt);
      if (!state.stopped) {
        state.retryAt = 0;
        elt.dispatchEvent(new CustomEvent("jobs-ui:poll"));
      }
    });
  });

  function formatDuration(ms) {
    var total = Math.max(0, Math.floor(ms / 1000));
    var hours = Math.floor(total / 3600);
    var minutes = Math.floor((total % 3600) / 60);
    var seconds = total % 60;
    var pad = function (n) {
      return (n < 10 ? "0" : "") + n;
    };
    return hours ? hours + ":" + pad(minutes) + ":" + pad(seconds) : minutes + ":" + pad(seconds);
  }

  function serverNow(elt) {
    // The server's clock, from the time it rendered the panel: client clocks drift.
    var panel = elt.closest("[data-jobs-ui-now]");
    if (!panel) {
      return Date.now();
    }
    if (!clockOffsets.has(panel)) {
      clockOffsets.set(panel, Date.now() - Number(panel.dataset.jobsUiNow));
    }
    return Date.now() - clockOffsets.get(panel);
  }

  function tick() {
    document.querySelectorAll("[data-jobs-ui-tick]").forEach(function (elt) {
      var now = serverNow(elt);
      if (elt.dataset.jobsUiTick === "up") {
        elt.textContent = formatDuration(now - Number(elt.dataset.jobsUiFrom));
      } else {
        elt.textContent = formatDuration(Number(elt.dataset.jobsUiTo) - now);
      }
    });
  }

  function enhance(root) {
    root.querySelectorAll("[data-jobs-ui-copy]").forEach(function (button) {
      button.hidden = false;
    });
    // A poll brings a new panel: keep saying why the last cancel failed.
    var panels = root.matches && root.matches(".jobs-ui-panel") ? [root] : root.querySelectorAll(".jobs-ui-panel");
    Array.prototype.forEach.call(panels, function (panel) {
      var message = cancelErrors.get(panel.dataset.jobId);
      if (message) {
        showCancelError(panel, message);
      }
    });
    // Every poll brings a new <progress>: start its animation where the old
    // one was, so an indeterminate bar sweeps on instead of restarting.
    root.querySelectorAll(".jobs-ui-progress:indeterminate").forEach(function (bar) {
      bar.style.animationDelay = -(Date.now() % INDETERMINATE_CYCLE_MS) + "ms";
    });
    tick();
  }

  document.addEventListener("click", function (evt) {
    var button = evt.target.closest ? evt.target.closest("[data-jobs-ui-copy]") : null;
    if (!button) {
      return;
    }
    var input = document.getElementById(button.dataset.jobsUiCopy);
    if (!input) {
      return;
    }
    var done = function () {
      var label = button.textContent;
      button.textContent = button.dataset.jobsUiCopied || label;
      window.setTimeout(function () {
        button.textContent = label;
      }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () {
        input.select();
      });
    } else {
      input.select();
    }
  });

  // "Your job is done" toasts ({% jobs_ui_notifications %}): none for a job whose panel is on
  // screen, one per job, the newest few kept until dismissed.
  var toasted = new Set();
  var TOASTS_KEPT = 5;
  function arrived(toast) {
    var jobId = toast.dataset.jobId;
    var shown = document.querySelector('.jobs-ui-panel[data-job-id="' + jobId + '"]');
    if (shown || toasted.has(jobId)) {
      toast.remove();
      return;
    }
    toasted.add(jobId);
    var all = document.querySelectorAll(".jobs-ui-toast");
    for (var i = 0; i < all.length - TOASTS_KEPT; i++) {
      all[i].remove();
    }
  }
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest ? evt.target.closest("[data-jobs-ui-dismiss]") : null;
    var toast = button && button.closest(".jobs-ui-toast");
    if (toast) {
      toast.remove();
    }
  });

  document.addEventListener("htmx:load", function (evt) {
    var elt = evt.detail.elt;
    if (elt.classList && elt.classList.contains("jobs-ui-toast")) {
      arrived(elt);
    } else if (elt.querySelectorAll) {
      elt.querySelectorAll(".jobs-ui-toast").forEach(arrived);
    }
    enhance(elt);
  });
  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
  });
  window.setInterval(tick, 1000);
  window.jobsUi = { formatDuration: formatDuration };
})();
