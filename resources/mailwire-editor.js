/*
  The editor code that the four nodes of @mailwire/node-red-email share: value checks, validators,
  labels, and the connection dialogs' port, Validate button and "Use this certificate" view.

  Node-RED serves the package's top-level resources/ folder at resources/@mailwire/node-red-email/.
  Each node's .html loads this file with
      <script src="resources/@mailwire/node-red-email/mailwire-editor.js"></script>
  and the editor runs that script before the .html's own scripts (it prefixes the path with the
  admin root). Each of the four node sets brings its own copy of that tag, so this file may run
  several times: the first run defines window.MailwireEditor, later runs leave it as it is.
*/
(function () {
    'use strict';

    if (window.MailwireEditor) return;

    const MODULE = '@mailwire/node-red-email';
    const STYLESHEET_ID = 'mailwire-editor-css';

    // ---- Values -----------------------------------------------------------------------------

    /** The value as trimmed text; undefined and null are ''. */
    function text(value) {
        return String(value === undefined || value === null ? '' : value).trim();
    }

    /** True when the value is missing: undefined, null or ''. */
    function missing(value) {
        return value === undefined || value === null || value === '';
    }

    function isPort(value) {
        const t = text(value);
        if (!/^\d+$/.test(t)) return false;
        const port = Number(t);
        return port >= 1 && port <= 65535;
    }

    function isHost(value) {
        const t = text(value);
        return t !== '' && !/[\s/]/.test(t);
    }

    /** Empty (trust the usual certificate authorities), or PEM text. */
    function isCertificate(value) {
        const t = String(value || '').trim();
        return t === '' || /-----BEGIN CERTIFICATE-----/.test(t);
    }

    /** A number when the text is one (by `valid`), else the text itself (so the node shows as invalid). */
    function asNumber(value, valid) {
        const t = text(value);
        return valid(t) ? Number(t) : t;
    }

    // ---- Node definitions -------------------------------------------------------------------

    // Node-RED calls validators with the node as `this`; `_` is there once the node exists.
    function message(node, key) {
        return node && typeof node._ === 'function' ? node._(key) : false;
    }

    /**
     * A property validator: true for a good value, else the message `key` (or false before the
     * node exists). It takes (v, opt) so that Node-RED shows the returned message.
     */
    function validator(isValid, key) {
        return function (v, opt) {
            return isValid(v) || message(this, key);
        };
    }

    /** A label function that shows the catalog entry `<type>.<key>` (paletteLabel, outputLabels…). */
    function catalogLabel(type, key) {
        return function () {
            return this._(type + '.' + key);
        };
    }

    /** Names the user gave are shown in italics. */
    function labelStyle() {
        return this.name ? 'node_label_italic' : '';
    }

    // ---- Connection dialogs -----------------------------------------------------------------

    /**
     * Sets up a connection dialog (call it from oneditprepare). The template has, for the node
     * type T: #T-port, #T-validate, #T-validate-result and the #node-config-input-* fields host,
     * user, password, security and certificate.
     *
     * options:
     *   type            the node type, whose catalog holds validate.*, errors.* and found.*
     *   route           the admin route that validates the settings (POST)
     *   security        the security method shown when the flow has none that is known
     *   watch           jQuery selects whose changes may change the default port
     *   defaultPort()   the default port for what the dialog shows now
     *   request()       fields of the Validate request besides id, host, port, security,
     *                   certificate, user and password
     *   failureParams(sent)    message parameters besides host, port, subject, fingerprint,
     *                          found and problem (each may be overridden by the reply's details)
     *   successText(reply, sent, t)   the text shown when the settings work
     */
    function connectionDialog(node, options) {
        const type = options.type;
        const t = (key, params) => node._(`${type}.${key}`, params);
        const $security = $('#node-config-input-security');
        const $port = $(`#${type}-port`);
        const $certificate = $('#node-config-input-certificate');
        const $button = $(`#${type}-validate`);
        const $result = $(`#${type}-validate-result`);

        // Flows written by hand or by older versions may lack this; show what the runtime uses.
        if (!['none', 'starttls', 'tls'].includes($security.val())) $security.val(options.security);

        // The port is kept in its own input (not node-config-input-port) so that oneditsave can
        // store it as a number, as the flow-file contract says; Node-RED saves inputs as text.
        $port.val(String(missing(node.port) ? options.defaultPort() : node.port));
        const checkPort = () => $port.toggleClass('input-error', !isPort($port.val()));
        $port.on('change keyup input paste', checkPort);
        checkPort();

        // The port follows the default port until the user types a port of their own.
        let previousDefault = options.defaultPort();
        function followDefaultPort() {
            const now = options.defaultPort();
            const current = String($port.val()).trim();
            if (current === '' || Number(current) === previousDefault) $port.val(String(now));
            previousDefault = now;
            checkPort();
        }
        for (const $select of options.watch) $select.on('change', followDefaultPort);

        // ---- Validate ---------------------------------------------------------------------
        let requestNumber = 0;

        function setRunning(running) {
            $button.prop('disabled', running).toggleClass('disabled', running).attr('aria-busy', running ? 'true' : 'false');
            $button.find('i.fa')
                .toggleClass('fa-check-circle-o', !running)
                .toggleClass('fa-spinner fa-spin', running);
            $button.find('.mailwire-validate-label').text(t(running ? 'validate.running' : 'validate.button'));
        }

        function show(kind, line) {
            $result.empty()
                .removeClass('mailwire-running mailwire-success mailwire-failure')
                .addClass(`mailwire-${kind}`);
            const icon = { running: 'fa-spinner fa-spin', success: 'fa-check', failure: 'fa-exclamation-triangle' }[kind];
            $('<div class="mailwire-validate-message"></div>')
                .append($('<i class="fa" aria-hidden="true"></i>').addClass(icon))
                .append($('<span></span>').text(line))
                .appendTo($result);
        }

        // A translated message for `key` (relative to this node type), or null when the
        // catalog has no such key (node._ then returns the key itself).
        function translated(key, params) {
            const full = `${type}.${key}`;
            const found = node._(full, params);
            return found === full ? null : found;
        }

        function failureText(reply, sent) {
            const details = reply.details && typeof reply.details === 'object' ? reply.details : {};
            const cert = reply.certificate && typeof reply.certificate === 'object' ? reply.certificate : {};
            const params = Object.assign({
                host: sent.host,
                port: String(sent.port),
                subject: cert.subject || '',
                fingerprint: cert.fingerprint256 || '',
                found: '',
                problem: '',
            }, options.failureParams(sent), details);
            // Some details are themselves keys: what the server speaks (found.*) and which
            // setting is incomplete (errors.config.*).
            if (params.found) params.found = translated(`found.${params.found}`) || params.found;
            if (params.problem) params.problem = translated(`errors.config.${params.problem}`) || params.problem;
            const code = typeof reply.code === 'string' ? reply.code : '';
            return (code && translated(`errors.${code}`, params)) ||
                (typeof reply.message === 'string' && reply.message) ||
                t('validate.http.unexpected', { status: code || '?' });
        }

        function showCertificate(cert) {
            const $box = $('<div class="mailwire-certificate"></div>');
            const $list = $('<dl></dl>').appendTo($box);
            const rows = [
                ['validate.certificate.subject', cert.subject, ''],
                ['validate.certificate.issuer', cert.issuer, ''],
                ['validate.certificate.valid-to', cert.validTo, ''],
                ['validate.certificate.fingerprint', cert.fingerprint256, 'mailwire-fingerprint'],
            ];
            for (const [key, value, cls] of rows) {
                if (!value) continue;
                $('<dt></dt>').text(t(key)).appendTo($list);
                $('<dd></dd>').addClass(cls).text(String(value)).appendTo($list);
            }
            if (typeof cert.pem === 'string' && /-----BEGIN CERTIFICATE-----/.test(cert.pem)) {
                const $note = $('<div class="mailwire-certificate-note" aria-live="polite"></div>');
                $('<button type="button" class="red-ui-button red-ui-button-small"></button>')
                    .attr('aria-label', t('validate.certificate.use-aria'))
                    .append('<i class="fa fa-download" aria-hidden="true"></i> ')
                    .append($('<span></span>').text(t('validate.certificate.use')))
                    .on('click', function () {
                        $certificate.val(cert.pem.trim() + '\n').trigger('change');
                        $note.text(t('validate.certificate.used'));
                    })
                    .appendTo($box);
                $note.appendTo($box);
            }
            $box.appendTo($result);
        }

        /** A refusal: its message, and the server's certificate when the reply has one. */
        function showFailure(reply, sent) {
            show('failure', failureText(reply, sent));
            if (reply.certificate && typeof reply.certificate === 'object') showCertificate(reply.certificate);
        }

        function httpFailureText(xhr, textStatus) {
            if (textStatus === 'timeout') return t('validate.http.timeout');
            switch (xhr.status) {
                case 0: return t('validate.http.no-response');
                case 401:
                case 403: return t('validate.http.forbidden');
                case 404: return t('validate.http.not-found');
                case 429: return t('validate.http.rate');
                default: return null;
            }
        }

        $button.on('click', function (event) {
            event.preventDefault();
            if ($button.prop('disabled')) return;
            const sent = Object.assign({ id: node.id }, options.request(), {
                host: String($('#node-config-input-host').val() || '').trim(),
                port: Number(String($port.val()).trim()),
                security: $security.val() || options.security,
                certificate: String($certificate.val() || ''),
                user: String($('#node-config-input-user').val() || ''),
                // '__PWRD__' stands for the saved password; the runtime knows what it means.
                password: String($('#node-config-input-password').val() || ''),
            });
            const mine = ++requestNumber;
            if (!isPort($port.val())) {
                // Number('') is 0: say what is wrong here rather than let a default port be tried.
                show('failure', failureText({ code: 'invalid-config', details: { problem: 'port' } }, sent));
                $port.trigger('focus');
                return;
            }
            setRunning(true);
            show('running', t('validate.running'));
            $.ajax({
                url: options.route,
                type: 'POST',
                contentType: 'application/json',
                data: JSON.stringify(sent),
                dataType: 'json',
                timeout: 20000,
            }).done(function (reply) {
                if (mine !== requestNumber) return;
                reply = reply && typeof reply === 'object' ? reply : {};
                if (reply.ok === true) show('success', options.successText(reply, sent, t));
                else showFailure(reply, sent);
            }).fail(function (xhr, textStatus) {
                if (mine !== requestNumber) return;
                const fixed = httpFailureText(xhr, textStatus);
                const body = xhr.responseJSON;
                if (fixed) {
                    show('failure', fixed);
                } else if (body && typeof body === 'object' && typeof body.code === 'string') {
                    // A refusal the runtime explained (for example invalid settings).
                    showFailure(body, sent);
                } else {
                    show('failure', t('validate.http.unexpected', { status: String(xhr.status) }));
                }
            }).always(function () {
                if (mine === requestNumber) setRunning(false);
            });
        });
    }

    /**
     * Stores the dialog's port on the node (call it from oneditsave): a valid port as a number,
     * anything else as typed, so the node shows as invalid instead of silently getting another port.
     */
    function savePort(node, type) {
        node.port = asNumber($(`#${type}-port`).val(), isPort);
    }

    // ---- The stylesheet ---------------------------------------------------------------------

    // Added once, from beside this script (so it follows the admin root, as the script did).
    function addStylesheet() {
        if (document.getElementById(STYLESHEET_ID)) return;
        const script = document.currentScript;
        const href = script && script.src
            ? new URL('mailwire-editor.css', script.src).href
            : `${(RED.settings && RED.settings.apiRootUrl) || ''}resources/${MODULE}/mailwire-editor.css`;
        const link = document.createElement('link');
        link.id = STYLESHEET_ID;
        link.rel = 'stylesheet';
        link.href = href;
        document.head.appendChild(link);
    }
    addStylesheet();

    window.MailwireEditor = Object.freeze({
        text,
        missing,
        isPort,
        isHost,
        isCertificate,
        asNumber,
        message,
        validator,
        catalogLabel,
        labelStyle,
        connectionDialog,
        savePort,
    });
})();
