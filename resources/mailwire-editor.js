/*
  The editor code that the four nodes of @mailwire/node-red-email share: value checks, validators,
  labels, the settings the runtime exports, the edit forms (built from a list of rows), and the
  connection dialogs' port, Validate button and "Use this certificate" view.

  Node-RED serves the package's top-level resources/ folder at resources/@mailwire/node-red-email/.
  Each node's .html loads this file with
      <script src="resources/@mailwire/node-red-email/mailwire-editor.js"></script>
  and the editor runs that script before the .html's own scripts (it prefixes the path with the
  admin root). Each of the four node sets brings its own copy of that tag, so this file may run
  several times: the first run defines window.MailwireEditor, later runs leave it as it is.
  The connection dialogs also load mailwire-failure-text.js (the failure messages, shared with the
  runtime); the editor may run the two files in either order, so it is looked up when it is used.
*/
(function () {
    'use strict';

    if (window.MailwireEditor) return;

    const MODULE = '@mailwire/node-red-email';
    const STYLESHEET_ID = 'mailwire-editor-css';
    const SECURITY_METHODS = Object.freeze(['none', 'starttls', 'tls']);
    const AUTH_METHODS = Object.freeze(['password', 'oauth2']);
    const OAUTH_PROVIDERS = Object.freeze(['google', 'microsoft', 'custom']);
    const OAUTH_GRANTS = Object.freeze(['authorization-code', 'device-code', 'client-credentials']);
    /** The OAuth2 rows of a connection dialog; shown only with Authentication = OAuth2. */
    /** Of these, the ones Node-RED keeps as credentials (password type: never sent back to the browser). */
    const OAUTH_CREDENTIALS = Object.freeze(['oauthClientSecret', 'oauthRefreshToken']);
    const OAUTH_KEYS = Object.freeze(['oauthProvider', 'oauthTenant', 'oauthGrant', 'oauthAuthorizeUrl', 'oauthTokenUrl', 'oauthDeviceUrl', 'oauthClientId', 'oauthClientSecret', 'oauthScope', 'oauthRefreshToken']);
    /** The admin route (relative, so admin auth and httpAdminRoot apply) that validates each connection type. */
    const VALIDATE_ROUTES = Object.freeze({
        'mailwire-receive-connection': 'mailwire/validate/receive',
        'mailwire-send-connection': 'mailwire/validate/send',
    });

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
     * node exists). It takes (v, opt) so that Node-RED shows the returned message. isValid gets
     * the value and the node (for rules that depend on its other properties).
     */
    function validator(isValid, key) {
        return function (v, opt) {
            return isValid(v, this) || message(this, key);
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

    /**
     * The label properties of a node definition (spread them into it): the palette label from
     * the catalog, the node's label (its name, else `fallback(node)`, else the palette label) in
     * italics when named, and with ports.input / ports.output the port labels from the catalog
     * (inputLabel, outputLabel).
     */
    function labels(type, fallback, ports) {
        const result = {
            paletteLabel: catalogLabel(type, 'paletteLabel'),
            label: function () {
                return this.name || fallback(this) || this._(`${type}.paletteLabel`);
            },
            labelStyle,
        };
        if (ports && ports.input) result.inputLabels = catalogLabel(type, 'inputLabel');
        if (ports && ports.output) result.outputLabels = catalogLabel(type, 'outputLabel');
        return result;
    }

    /**
     * The defaults of a connection (config node) of type `type`, in the order of the flow-file
     * contract: name, description, then `own` (Protocol), then host, port, security, certificate.
     * initial: { port, security } for a new connection.
     */
    function connectionDefaults(type, initial, own) {
        const invalid = (problem) => `${type}.errors.config.${problem}`;
        return Object.assign({ name: { value: '' }, description: { value: '' } }, own, {
            host: { value: '', required: true, validate: validator(isHost, invalid('host')) },
            port: { value: initial.port, required: true, validate: validator(isPort, invalid('port')) },
            security: { value: initial.security, validate: validator((v) => SECURITY_METHODS.includes(v), invalid('security')) },
            certificate: { value: '', validate: validator(isCertificate, invalid('certificate')) },
            // Absent in older flows and in new connections until OAuth2 is chosen: absent means a
            // password, and a connection that never used OAuth2 is saved without these.
            auth: { value: undefined, validate: validator((v) => missing(v) || AUTH_METHODS.includes(v), invalid('auth')) },
            oauthProvider: { value: undefined, validate: validator((v, n) => !oauth(n) || OAUTH_PROVIDERS.includes(v), invalid('oauthProvider')) },
            oauthTenant: { value: undefined },
            oauthGrant: { value: undefined, validate: validator((v, n) => !oauth(n) || OAUTH_GRANTS.includes(v), invalid('oauthGrant')) },
            oauthClientId: { value: undefined, validate: validator((v, n) => !oauth(n) || text(v) !== '', invalid('oauthClientId')) },
            oauthAuthorizeUrl: { value: undefined, validate: validator((v, n) => !customUrlNeeded(n, 'authorization-code') || isUrl(v), invalid('oauthAuthorizeUrl')) },
            oauthTokenUrl: { value: undefined, validate: validator((v, n) => !customUrlNeeded(n) || isUrl(v), invalid('oauthTokenUrl')) },
            oauthDeviceUrl: { value: undefined, validate: validator((v, n) => !customUrlNeeded(n, 'device-code') || isUrl(v), invalid('oauthDeviceUrl')) },
            oauthScope: { value: undefined },
        });
    }

    function oauth(node) {
        return !!node && node.auth === 'oauth2';
    }

    /** A custom provider's endpoint is needed: always the token URL, the others for their grant. */
    function customUrlNeeded(node, grant) {
        return oauth(node) && node.oauthProvider === 'custom' && (!grant || node.oauthGrant === grant);
    }

    function isUrl(value) {
        try {
            const url = new URL(text(value));
            return url.protocol === 'https:' || url.protocol === 'http:';
        } catch (e) {
            return false;
        }
    }

    /** The credentials of a connection: the user name is shown again, the password and the OAuth2 secrets never. */
    function connectionCredentials() {
        return { user: { type: 'text' }, password: { type: 'password' }, oauthClientSecret: { type: 'password' }, oauthRefreshToken: { type: 'password' } };
    }

    /** The defaults of a node that uses a connection of type `connectionType`: name, connection, then `own`. */
    function nodeDefaults(connectionType, own) {
        return Object.assign({ name: { value: '' }, connection: { value: '', type: connectionType, required: true } }, own);
    }

    // ---- Settings the runtime exports --------------------------------------------------------

    /** A setting a node type exports to the editor (`exportable: true`), or undefined. */
    function setting(name) {
        return RED.settings ? RED.settings[name] : undefined;
    }

    /**
     * The default port for `security` from a table { none, starttls, tls } that the runtime
     * exports (the runtime's own table, so editor and runtime never disagree); undefined when the
     * table has none.
     */
    function defaultPort(table, security) {
        const port = table && typeof table === 'object' ? table[security] : undefined;
        return typeof port === 'number' ? port : undefined;
    }

    // ---- Edit forms -------------------------------------------------------------------------

    /** An element with the attributes whose value is not undefined, null or false. */
    function element(tag, attrs) {
        const $element = $(document.createElement(tag));
        for (const [name, value] of Object.entries(attrs || {})) {
            if (value !== undefined && value !== null && value !== false) $element.attr(name, String(value));
        }
        return $element;
    }

    /** The data-i18n attribute for text and attributes: parts [[attribute or '', key], …]. */
    function i18nAttribute(parts) {
        const used = parts.filter(([, key]) => key);
        return used.length ? used.map(([attribute, key]) => (attribute ? `[${attribute}]` : '') + key).join(';') : undefined;
    }

    /**
     * Writes the edit form of node type `type` into its template, <script type="text/html"
     * data-template-name="<type>">, from `rows` (call it before RED.nodes.registerType). Inputs
     * named after a property get the id Node-RED fills and saves itself (node-input-<key>, or
     * node-config-input-<key> with options.config); the others are kept by oneditprepare and
     * oneditsave. Each text comes from the type's catalog through data-i18n.
     *
     * A row (all but `key` optional):
     *   key         the property, and the catalog entry label.<key>
     *   icon        Font Awesome icon of the label, without "fa-"
     *   control     'text' (default), 'password', 'textarea', 'select', 'checkbox', 'number'
     *               or 'port'; the last two are kept by the node's own code (id <type>-<key>)
     *   own         kept by the node's own code (id <type>-<key>) whatever the control, e.g. so
     *               that a property absent from an older flow stays absent
     *   code        no spell checking (host names, addresses, PEM)
     *   secret      no autocompletion
     *   placeholder the placeholder placeholder.<key>
     *   rows, min, step, className   passed to the control
     *   options     the values of a select, shown as <optionKey or 'option'>.<value>
     *   ariaLabel   a catalog key for the control's aria-label
     *   tip         a catalog key shown below the row (id <type>-<key>-tip, which describes the
     *               control), or [[id suffix or null, key], …] for several paragraphs
     *   describedBy the id suffix of a tip row shared by several rows (<type>-<suffix>-tip)
     *   hint        a catalog key beside a checkbox (id <type>-<hintId or key>-hint)
     *   labelAfter  a checkbox with its label after it, in a row of its own (<type>-<key>-row)
     *   after       a second control in the same row (a row without a label of its own)
     *   suffix      text after the control (a unit)
     *   unit        a catalog key shown after the control (a unit in the editor's language)
     * Each field row has the id <type>-<key>-row, so the node's code can show or hide it.
     * Other rows: { tip, id } a tip shared by several rows; { notice, id, level: 'warning' |
     * 'info' } a notice the node's code shows or hides (id <type>-<id>); { validate: true } the
     * Validate button of a connection dialog with its result (#<type>-validate, …-validate-result);
     * { section: id, title, rows } a group of rows under a heading that opens and closes it
     * (#<type>-<id>-toggle, #<type>-<id>-body; see disclosure()).
     */
    function form(type, rows, options) {
        const prefix = options && options.config ? 'node-config-input-' : 'node-input-';
        const catalogKey = (key) => (key ? `${type}.${key}` : undefined);
        const own = (row) => row.own === true || row.control === 'number' || row.control === 'port';
        const controlId = (row) => (own(row) ? `${type}-${row.key}` : prefix + row.key);
        const tipId = (suffix) => `${type}-${suffix}-tip`;

        function label(row) {
            return element('label', { for: controlId(row), class: row.control === 'textarea' ? 'mailwire-top' : undefined })
                .append(element('i', { class: `fa fa-${row.icon}` }), ' ', element('span', { 'data-i18n': catalogKey(`label.${row.key}`) }));
        }

        function control(row) {
            const describedBy = row.tip ? tipId(row.key) : row.hint ? `${type}-${row.hintId || row.key}-hint` : row.describedBy && tipId(row.describedBy);
            const attrs = {
                id: controlId(row),
                class: row.className,
                spellcheck: row.code ? 'false' : undefined,
                autocomplete: row.secret ? 'off' : undefined,
                'aria-describedby': describedBy,
                'data-i18n': i18nAttribute([['placeholder', row.placeholder && catalogKey(`placeholder.${row.key}`)], ['aria-label', catalogKey(row.ariaLabel)]]),
            };
            switch (row.control) {
                case 'select':
                    return element('select', attrs).append(row.options.map((value) => element('option', { value, 'data-i18n': catalogKey(`${row.optionKey || 'option'}.${value}`) })));
                case 'textarea':
                    return element('textarea', Object.assign(attrs, { rows: row.rows }));
                case 'number':
                    return element('input', Object.assign({ type: 'number', min: row.min, step: row.step }, attrs, { class: 'mailwire-number' }));
                case 'port':
                    return element('input', Object.assign({ type: 'text', inputmode: 'numeric' }, attrs, { class: 'mailwire-port' }));
                case 'password':
                    return element('input', Object.assign({ type: 'password' }, attrs, { autocomplete: 'new-password' }));
                case 'checkbox':
                    return element('input', Object.assign({ type: 'checkbox' }, attrs));
                default:
                    return element('input', Object.assign({ type: 'text' }, attrs));
            }
        }

        function tip(suffix, content) {
            const $tip = element('div', { class: 'mailwire-tip', id: tipId(suffix) });
            if (!Array.isArray(content)) return $tip.attr('data-i18n', catalogKey(content));
            // Paragraphs the node's code may show or hide: a screen reader hears the change.
            return $tip.attr('aria-live', 'polite').append(content.map(([id, key]) => element('p', { id: id && `${type}-${suffix}-${id}`, 'data-i18n': catalogKey(key) })));
        }

        function notice(row) {
            const warning = row.level === 'warning';
            return element('div', { class: `form-tips ${warning ? 'mailwire-warning' : 'mailwire-note'}`, id: `${type}-${row.id}`, role: warning ? 'alert' : 'status' })
                .append(element('i', { class: `fa ${warning ? 'fa-exclamation-triangle' : 'fa-info-circle'}`, 'aria-hidden': 'true' }), element('span', { 'data-i18n': catalogKey(row.notice) }));
        }

        function validateRow() {
            const aria = catalogKey('validate.aria');
            return element('div', { class: 'form-row mailwire-validate-row' }).append(
                element('button', { type: 'button', class: 'red-ui-button', id: `${type}-validate`, 'aria-describedby': `${type}-validate-result`, 'data-i18n': i18nAttribute([['aria-label', aria], ['title', aria]]) })
                    .append(element('i', { class: 'fa fa-check-circle-o', 'aria-hidden': 'true' }), ' ', element('span', { class: 'mailwire-validate-label', 'data-i18n': catalogKey('validate.button') })),
                element('div', { id: `${type}-validate-result`, class: 'mailwire-validate-result', role: 'status', 'aria-live': 'polite' }),
            );
        }

        function fieldRow(row) {
            const $row = element('div', { class: row.labelAfter ? 'form-row mailwire-checkbox-only' : 'form-row', id: `${type}-${row.key}-row` });
            const parts = [row.labelAfter ? null : label(row), control(row)];
            if (row.hint) parts.push(element('label', { for: controlId(row), class: 'mailwire-inline', id: `${type}-${row.hintId || row.key}-hint`, 'data-i18n': catalogKey(row.hint) }));
            if (row.labelAfter) parts.push(element('label', { for: controlId(row), class: 'mailwire-inline', 'data-i18n': catalogKey(`label.${row.key}`) }));
            if (row.after) parts.push(control(row.after));
            if (row.suffix) parts.push(row.suffix);
            if (row.unit) parts.push(element('span', { 'data-i18n': catalogKey(row.unit) }));
            // White space between the parts, as between tags in hand-written markup.
            parts.filter((part) => part !== null).forEach((part, i) => $row.append(i ? ' ' : '', part));
            return row.tip ? [$row, tip(row.key, row.tip)] : [$row];
        }

        // A heading that opens and closes the rows below it (the disclosure pattern): a button
        // with aria-expanded that controls the body; closed until the node's code opens it.
        function section(row) {
            const id = (part) => `${type}-${row.section}-${part}`;
            const $toggle = element('button', { type: 'button', class: 'mailwire-section-toggle', id: id('toggle'), 'aria-expanded': 'false', 'aria-controls': id('body') })
                .append(element('i', { class: 'fa fa-angle-right', 'aria-hidden': 'true' }), ' ', element('span', { 'data-i18n': catalogKey(row.title) }));
            const $body = element('div', { class: 'mailwire-section-body', id: id('body'), role: 'group', 'aria-labelledby': id('toggle') });
            for (const inner of row.rows) $body.append(build(inner));
            return element('div', { class: 'mailwire-section', id: id('section') }).append(element('div', { class: 'mailwire-section-heading' }).append($toggle), $body.hide());
        }

        // The sign-in part of the OAuth2 rows: the redirect URI to register, Sign in (authorization
        // code) or the device code, and who is signed in. oauthDialog() fills it.
        function signInRow() {
            const id = (part) => `${type}-oauth-${part}`;
            const aria = catalogKey('oauth.signin.aria');
            return element('div', { class: 'form-row mailwire-oauth-signin', id: id('signin-row') }).append(
                element('div', { class: 'mailwire-tip', id: id('redirect-row') }).append(
                    element('span', { 'data-i18n': catalogKey('oauth.redirect') }), ' ', element('code', { id: id('redirect'), class: 'mailwire-oauth-redirect' })),
                element('button', { type: 'button', class: 'red-ui-button', id: id('signin'), 'aria-describedby': id('result'), 'data-i18n': i18nAttribute([['aria-label', aria], ['title', aria]]) })
                    .append(element('i', { class: 'fa fa-sign-in', 'aria-hidden': 'true' }), ' ', element('span', { class: 'mailwire-oauth-signin-label', 'data-i18n': catalogKey('oauth.signin.button') })),
                element('div', { id: id('device'), class: 'mailwire-oauth-device', 'aria-live': 'polite' }),
                element('div', { id: id('result'), class: 'mailwire-validate-result', role: 'status', 'aria-live': 'polite' }),
                element('div', { id: id('status'), class: 'mailwire-oauth-status', role: 'status', 'aria-live': 'polite' }),
            );
        }

        function build(row) {
            if (row.oauthSignIn) return [signInRow()];
            if (row.validate) return [validateRow()];
            if (row.notice) return [notice(row)];
            if (row.section) return [section(row)];
            if (!row.key) return [tip(row.id, row.tip)];
            return fieldRow(row);
        }

        const $form = element('div', { class: `mailwire-form ${type}-form` });
        for (const row of rows) $form.append(build(row));
        let $template = $(`script[data-template-name="${type}"]`);
        if ($template.length === 0) {
            // Beside the node definitions the editor has loaded, where a hand-written template would be.
            const $configs = $('#red-ui-editor-node-configs');
            $template = element('script', { type: 'text/html', 'data-template-name': type }).appendTo($configs.length ? $configs : document.body);
        }
        $template.text($form.prop('outerHTML'));
    }

    /**
     * Sets up a section that form() wrote ({ section: id, … }) in the open dialog: its heading
     * opens and closes it. open: whether it starts open. Returns { open(boolean), isOpen() }.
     */
    function disclosure(type, id, open) {
        const $toggle = $(`#${type}-${id}-toggle`);
        const $body = $(`#${type}-${id}-body`);
        function set(opened) {
            $toggle.attr('aria-expanded', opened ? 'true' : 'false');
            $toggle.find('i.fa').toggleClass('fa-angle-right', !opened).toggleClass('fa-angle-down', opened);
            $body.toggle(opened);
        }
        $toggle.on('click', function (event) {
            event.preventDefault();
            set($toggle.attr('aria-expanded') !== 'true');
        });
        set(open);
        return { open: set, isOpen: () => $toggle.attr('aria-expanded') === 'true' };
    }

    /** Shows or hides the field rows of these properties of `type`'s form, each with its tip. */
    function showRows(type, keys, visible) {
        for (const key of keys) $(`#${type}-${key}-row, #${type}-${key}-tip`).toggle(visible);
    }

    /** The rows both connection dialogs have, after those of their own (Protocol). */
    const CONNECTION_ROWS = Object.freeze([
        { key: 'host', icon: 'server', code: true, placeholder: true },
        { key: 'port', icon: 'plug', control: 'port', tip: 'tip.port' },
        { key: 'auth', own: true, icon: 'key', control: 'select', options: AUTH_METHODS, optionKey: 'oauth.auth' },
        { key: 'oauthProvider', own: true, icon: 'id-badge', control: 'select', options: OAUTH_PROVIDERS, optionKey: 'oauth.provider' },
        { key: 'oauthTenant', own: true, icon: 'building', code: true, placeholder: true },
        { key: 'oauthGrant', own: true, icon: 'sign-in', control: 'select', options: OAUTH_GRANTS, optionKey: 'oauth.grant', tip: 'tip.oauthGrant' },
        { key: 'oauthAuthorizeUrl', own: true, icon: 'globe', code: true, placeholder: true },
        { key: 'oauthTokenUrl', own: true, icon: 'globe', code: true, placeholder: true },
        { key: 'oauthDeviceUrl', own: true, icon: 'globe', code: true, placeholder: true },
        { key: 'oauthClientId', own: true, icon: 'id-card-o', code: true, secret: true },
        { key: 'oauthClientSecret', icon: 'lock', control: 'password', placeholder: true },
        { key: 'oauthScope', own: true, icon: 'list', code: true, placeholder: true, tip: 'tip.oauthScope' },
        { oauthSignIn: true },
        { key: 'user', icon: 'user', code: true, secret: true, placeholder: true },
        { key: 'password', icon: 'lock', control: 'password', placeholder: true },
        { key: 'oauthRefreshToken', icon: 'refresh', control: 'password', placeholder: true, tip: 'tip.oauthRefreshToken' },
        { key: 'security', icon: 'shield', control: 'select', options: SECURITY_METHODS },
        { key: 'certificate', icon: 'certificate', control: 'textarea', className: 'mailwire-pem', rows: 5, code: true, secret: true, placeholder: true, tip: 'tip.certificate' },
        { key: 'name', icon: 'tag', placeholder: true },
        { key: 'description', icon: 'align-left', control: 'textarea', rows: 3, placeholder: true },
        { validate: true },
    ]);

    /** Writes a connection dialog's form: `ownRows` first, then host, port, … and Validate. */
    function connectionForm(type, ownRows) {
        form(type, ownRows.concat(CONNECTION_ROWS), { config: true });
    }

    // ---- Connection dialogs -----------------------------------------------------------------

    /**
     * The text of a failure reply { code, message, details, certificate } (a refused Validate) for
     * the connection type `type`, in the editor's language. The message comes from the catalog,
     * built by the function the runtime uses too (mailwire-failure-text.js), with `params` (what
     * the dialog shows: host, port, …) and the reply's details, which win. Without a catalog
     * message for the code: the reply's own message, else "failed unexpectedly".
     */
    function failureText(node, type, reply, params) {
        const details = reply.details && typeof reply.details === 'object' ? reply.details : {};
        const cert = reply.certificate && typeof reply.certificate === 'object' ? reply.certificate : {};
        const values = Object.assign({ subject: cert.subject || '', fingerprint: cert.fingerprint256 || '', found: '', problem: '' }, params, details);
        const code = typeof reply.code === 'string' ? reply.code : '';
        const shared = window.MailwireFailureText;
        const text = code && shared ? shared.failureText(type, code, values, (key, v) => node._(key, v)) : null;
        return text || (typeof reply.message === 'string' && reply.message) || node._(`${type}.validate.http.unexpected`, { status: code || '?' });
    }

    /**
     * Sets up the connection dialog of `node`, of type T (call it from oneditprepare). The form is
     * the one connectionForm() wrote: #T-port, #T-validate, #T-validate-result and the
     * #node-config-input-* fields host, user, password, security and certificate. T's catalog
     * holds validate.*, errors.* and found.*; Validate posts to T's route (VALIDATE_ROUTES).
     *
     * options:
     *   watch           jQuery selects whose changes may change the default port
     *   defaultPort()   the default port for what the dialog shows now; undefined when the
     *                   runtime exported no table (the port is then left as it is)
     *   request()       fields of the Validate request besides id, host, port, security,
     *                   certificate, user and password
     *   failureParams(sent)    message parameters besides host, port, subject, fingerprint,
     *                          found and problem (each may be overridden by the reply's details)
     *   successText(reply, sent, t)   the text shown when the settings work
     */
    function connectionDialog(node, type, options) {
        const route = VALIDATE_ROUTES[type];
        // A flow without a known security method shows the one a new connection gets.
        const initialSecurity = node._def.defaults.security.value;
        const t = (key, params) => node._(`${type}.${key}`, params);
        const $security = $('#node-config-input-security');
        const $port = $(`#${type}-port`);
        const $certificate = $('#node-config-input-certificate');
        const $button = $(`#${type}-validate`);
        const $result = $(`#${type}-validate-result`);

        // Flows written by hand or by older versions may lack this; show what the runtime uses.
        if (!SECURITY_METHODS.includes($security.val())) $security.val(initialSecurity);

        // The port is kept in its own input (not node-config-input-port) so that oneditsave can
        // store it as a number, as the flow-file contract says; Node-RED saves inputs as text.
        const initial = missing(node.port) ? options.defaultPort() : node.port;
        $port.val(initial === undefined ? '' : String(initial));
        const checkPort = () => $port.toggleClass('input-error', !isPort($port.val()));
        $port.on('change keyup input paste', checkPort);
        checkPort();

        // The port follows the default port until the user types a port of their own.
        let previousDefault = options.defaultPort();
        function followDefaultPort() {
            const now = options.defaultPort();
            const current = String($port.val()).trim();
            if (now !== undefined && (current === '' || Number(current) === previousDefault)) $port.val(String(now));
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

        const failure = (reply, sent) => failureText(node, type, reply, Object.assign({ host: sent.host, port: String(sent.port) }, options.failureParams(sent)));

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
            show('failure', failure(reply, sent));
            if (reply.certificate && typeof reply.certificate === 'object') showCertificate(reply.certificate);
        }

        function httpFailureText(xhr, textStatus, prefix) {
            const p = prefix || 'validate.http';
            if (textStatus === 'timeout') return t(`${p}.timeout`);
            switch (xhr.status) {
                case 0: return t(`${p}.no-response`);
                case 401:
                case 403: return t(`${p}.forbidden`);
                case 404: return t(`${p}.not-found`);
                case 429: return t(`${p}.rate`);
                default: return null;
            }
        }

        oauthDialog(node, type, {
            use: options.use,
            watchUse: options.watch.filter(($select) => $select.attr('id') !== 'node-config-input-security'),
            setServer: function (server) {
                $('#node-config-input-host').val(server.host);
                $security.val(server.security).trigger('change');
                $port.val(String(server.port));
                checkPort();
            },
            httpFailureText,
        });

        $button.on('click', function (event) {
            event.preventDefault();
            if ($button.prop('disabled')) return;
            const sent = Object.assign({ id: node.id }, options.request(), {
                host: String($('#node-config-input-host').val() || '').trim(),
                port: Number(String($port.val()).trim()),
                security: $security.val() || initialSecurity,
                certificate: String($certificate.val() || ''),
                user: String($('#node-config-input-user').val() || ''),
                // '__PWRD__' stands for the saved password; the runtime knows what it means.
                password: String($('#node-config-input-password').val() || ''),
            }, oauthFields(type));
            const mine = ++requestNumber;
            if (!isPort($port.val())) {
                // Number('') is 0: say what is wrong here rather than let a default port be tried.
                show('failure', failure({ code: 'invalid-config', details: { problem: 'port' } }, sent));
                $port.trigger('focus');
                return;
            }
            setRunning(true);
            show('running', t('validate.running'));
            $.ajax({
                url: route,
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

    /** The OAuth2 properties kept by the dialog's own code (so that absent ones can stay absent). */
    const OAUTH_OWN_KEYS = Object.freeze(['auth'].concat(OAUTH_KEYS.filter((key) => !OAUTH_CREDENTIALS.includes(key))));

    /** The input of an OAuth2 property or credential in the open dialog of a connection of type `type`. */
    function oauthInput(type, key) {
        return $(OAUTH_CREDENTIALS.includes(key) ? `#node-config-input-${key}` : `#${type}-${key}`);
    }

    /** The OAuth2 properties on screen, as the runtime's routes take them ('' secret = none, '__PWRD__' = the saved one). */
    function oauthFields(type) {
        const out = {};
        for (const key of ['auth'].concat(OAUTH_KEYS)) out[key] = String(oauthInput(type, key).val() || '');
        return out;
    }

    /**
     * Stores the OAuth2 properties on the node (call it from oneditsave). A connection that had no
     * `auth` and still uses a password keeps all of them absent, as flows from before OAuth2 have.
     */
    function saveOAuth(node, type) {
        const auth = oauthInput(type, 'auth').val();
        if (auth !== 'oauth2' && missing(node.auth)) return;
        node.auth = auth === 'oauth2' ? 'oauth2' : 'password';
        if (auth !== 'oauth2') return;
        for (const key of OAUTH_OWN_KEYS) if (key !== 'auth') node[key] = text(oauthInput(type, key).val());
    }

    /**
     * The OAuth2 part of a connection dialog: shows the rows that fit the provider and grant,
     * fills a preset's server and scope, and runs the sign-in. The editor learns the outcome by
     * polling the runtime (mailwire/oauth/status/<id>, mailwire/oauth/device/<id>); no token ever
     * reaches the browser.
     *   use()            'imap', 'pop3' or 'smtp': which of the preset's servers and scopes apply
     *   watchUse         jQuery selects whose change changes use()
     *   setServer(s)     puts a preset's { host, port, security } into the dialog
     *   httpFailureText(xhr, textStatus, prefix)   the fixed texts for 401/403/404/429/no answer
     */
    function oauthDialog(node, type, options) {
        const t = (key, params) => node._(`${type}.${key}`, params);
        // What an absent property means: a password; a custom provider signed in from the editor.
        const initial = { auth: 'password', oauthProvider: 'custom', oauthGrant: 'authorization-code' };
        for (const key of OAUTH_OWN_KEYS) oauthInput(type, key).val(missing(node[key]) ? initial[key] || '' : String(node[key]));
        const $auth = oauthInput(type, 'auth');
        const $provider = oauthInput(type, 'oauthProvider');
        const $grant = oauthInput(type, 'oauthGrant');
        const $scope = oauthInput(type, 'oauthScope');
        const $signin = $(`#${type}-oauth-signin`);
        const $device = $(`#${type}-oauth-device`);
        const $result = $(`#${type}-oauth-result`);
        const $status = $(`#${type}-oauth-status`);
        const presets = () => setting(type === 'mailwire-send-connection' ? 'mailwireSendConnectionOauthPresets' : 'mailwireReceiveConnectionOauthPresets') || {};
        const presetScope = () => {
            const preset = presets()[$provider.val()];
            if (!preset) return '';
            return $grant.val() === 'client-credentials' ? preset.appScope || '' : (preset.delegatedScope || {})[options.use()] || '';
        };

        if (!AUTH_METHODS.includes($auth.val())) $auth.val('password');
        if (!OAUTH_PROVIDERS.includes($provider.val())) $provider.val('custom');
        if (!OAUTH_GRANTS.includes($grant.val())) $grant.val('authorization-code');

        // The address the provider sends the browser back to: this editor's own admin URL.
        const redirectUri = new URL('mailwire/oauth/callback', window.location.href.split('#')[0].split('?')[0]).href;
        $(`#${type}-oauth-redirect`).text(redirectUri);

        function layout() {
            const on = $auth.val() === 'oauth2';
            const provider = $provider.val();
            const grant = $grant.val();
            showRows(type, OAUTH_KEYS, on);
            showRows(type, ['password'], !on);
            if (on) {
                showRows(type, ['oauthTenant'], provider === 'microsoft');
                showRows(type, ['oauthTokenUrl'], provider === 'custom');
                showRows(type, ['oauthAuthorizeUrl'], provider === 'custom' && grant === 'authorization-code');
                showRows(type, ['oauthDeviceUrl'], provider === 'custom' && grant === 'device-code');
                showRows(type, ['oauthRefreshToken'], grant !== 'client-credentials');
            }
            $(`#${type}-oauth-signin-row`).toggle(on && grant !== 'client-credentials');
            $(`#${type}-oauth-redirect-row`).toggle(grant === 'authorization-code');
            $signin.find('.mailwire-oauth-signin-label').text(t(grant === 'device-code' ? 'oauth.signin.device-button' : 'oauth.signin.button'));
        }

        // A preset fills the usual server and scope; each stays editable. The scope follows the
        // preset only while the user has not typed one of their own.
        let previousScope = presetScope();
        function followScope() {
            const now = presetScope();
            const current = text($scope.val());
            if (now && (current === '' || current === previousScope)) $scope.val(now);
            previousScope = now;
        }
        $provider.on('change', function () {
            const preset = presets()[$provider.val()];
            if (preset && preset.servers && preset.servers[options.use()]) options.setServer(preset.servers[options.use()]);
            followScope();
            layout();
        });
        $grant.on('change', function () {
            followScope();
            layout();
        });
        for (const $select of options.watchUse) $select.on('change', function () {
            const preset = presets()[$provider.val()];
            if ($auth.val() === 'oauth2' && preset && preset.servers && preset.servers[options.use()]) options.setServer(preset.servers[options.use()]);
            followScope();
        });
        $auth.on('change', layout);
        layout();

        function show(kind, line) {
            $result.empty().removeClass('mailwire-running mailwire-success mailwire-failure').addClass(`mailwire-${kind}`);
            const icon = { running: 'fa-spinner fa-spin', success: 'fa-check', failure: 'fa-exclamation-triangle' }[kind];
            $('<div class="mailwire-validate-message"></div>').append($('<i class="fa" aria-hidden="true"></i>').addClass(icon)).append($('<span></span>').text(line)).appendTo($result);
        }

        function showStatus(status) {
            const state = status && typeof status.state === 'string' ? status.state : 'not-signed-in';
            const until = typeof status.accessTokenExpiresAt === 'number' ? new Date(status.accessTokenExpiresAt).toLocaleString() : '';
            let line;
            if (state === 'signed-in') line = status.account ? t(until ? 'oauth.status.signed-in-as-until' : 'oauth.status.signed-in-as', { account: status.account, until }) : t(until ? 'oauth.status.signed-in-until' : 'oauth.status.signed-in', { until });
            else line = t(`oauth.status.${['signin-required', 'unavailable'].includes(state) ? state : 'not-signed-in'}`);
            $status.attr('data-state', state).text(line);
        }

        const statusUrl = () => `mailwire/oauth/status/${encodeURIComponent(node.id)}?type=${encodeURIComponent(type)}`;
        function refreshStatus() {
            return $.ajax({ url: statusUrl(), dataType: 'json', timeout: 10000 }).then(
                (status) => {
                    showStatus(status);
                    return status;
                },
                () => null,
            );
        }
        if ($auth.val() === 'oauth2') refreshStatus();
        $auth.on('change', function () {
            if ($auth.val() === 'oauth2') refreshStatus();
        });

        function failureOf(xhr, textStatus) {
            const fixed = options.httpFailureText(xhr, textStatus, 'oauth.http');
            if (fixed) return fixed;
            const body = xhr.responseJSON;
            if (body && typeof body === 'object' && typeof body.code === 'string') return failureText(node, type, body, { host: '', port: '' });
            if (xhr.status === 500) return t('oauth.http.server-error');
            return t('oauth.http.unexpected', { status: String(xhr.status) });
        }

        let attempt = 0;
        let timer = null;
        function stopPolling() {
            if (timer) clearTimeout(timer);
            timer = null;
        }

        // The dialog is gone (closed, or replaced by another): nothing left to show the outcome in.
        const closed = () => !document.body.contains($status[0]);

        /** Polls the connection's status until it shows a sign-in newer than `before`. */
        function waitForSignIn(mine, before, deadline) {
            timer = setTimeout(function () {
                if (mine !== attempt || closed()) return;
                refreshStatus().then(function (status) {
                    if (mine !== attempt) return;
                    const newer = status && status.state === 'signed-in' && status.accessTokenExpiresAt !== before;
                    if (newer) {
                        show('success', t('oauth.signin.done'));
                        setBusy(false);
                    } else if (Date.now() > deadline) {
                        show('failure', t('oauth.signin.timeout'));
                        setBusy(false);
                    } else {
                        waitForSignIn(mine, before, deadline);
                    }
                });
            }, 1500);
        }

        function setBusy(busy) {
            $signin.prop('disabled', busy).toggleClass('disabled', busy).attr('aria-busy', busy ? 'true' : 'false');
        }

        function body() {
            return Object.assign({ id: node.id, type, redirectUri, protocol: options.use() === 'smtp' ? undefined : options.use() }, oauthFields(type));
        }

        function signInWithCode() {
            const mine = ++attempt;
            // Opened now, inside the click, so that no popup blocker stops it; pointed at the
            // provider once the runtime has made the round trip.
            const popup = window.open('', '_blank');
            setBusy(true);
            show('running', t('oauth.signin.starting'));
            refreshStatus().then(function (before) {
                const beforeExpiry = before && before.state === 'signed-in' ? before.accessTokenExpiresAt : undefined;
                $.ajax({ url: 'mailwire/oauth/start', type: 'POST', contentType: 'application/json', data: JSON.stringify(body()), dataType: 'json', timeout: 20000 })
                    .done(function (reply) {
                        if (mine !== attempt) return;
                        const url = reply && typeof reply.url === 'string' ? reply.url : '';
                        if (!/^https?:\/\//.test(url)) {
                            if (popup) popup.close();
                            show('failure', t('oauth.http.unexpected', { status: '200' }));
                            setBusy(false);
                            return;
                        }
                        if (popup && !popup.closed) {
                            popup.opener = null;
                            popup.location.href = url;
                            show('running', t('oauth.signin.waiting'));
                        } else {
                            $result.empty().removeClass('mailwire-running mailwire-success mailwire-failure').addClass('mailwire-running');
                            $('<div class="mailwire-validate-message"></div>').append($('<span></span>').text(t('oauth.signin.blocked') + ' '))
                                .append($('<a target="_blank" rel="noopener noreferrer"></a>').attr('href', url).text(t('oauth.signin.open'))).appendTo($result);
                        }
                        waitForSignIn(mine, beforeExpiry, Date.now() + 10 * 60000);
                    })
                    .fail(function (xhr, textStatus) {
                        if (mine !== attempt) return;
                        if (popup) popup.close();
                        show('failure', failureOf(xhr, textStatus));
                        setBusy(false);
                    });
            });
        }

        function signInWithDevice() {
            const mine = ++attempt;
            setBusy(true);
            $device.empty();
            show('running', t('oauth.signin.starting'));
            $.ajax({ url: 'mailwire/oauth/device', type: 'POST', contentType: 'application/json', data: JSON.stringify(body()), dataType: 'json', timeout: 20000 })
                .done(function (reply) {
                    if (mine !== attempt) return;
                    const address = typeof reply.verificationUri === 'string' && /^https?:\/\//.test(reply.verificationUri) ? reply.verificationUri : '';
                    $('<p></p>').text(t('oauth.device.open')).append(' ', $('<a target="_blank" rel="noopener noreferrer" class="mailwire-oauth-device-link"></a>').attr('href', address).text(address)).appendTo($device);
                    $('<p></p>').text(t('oauth.device.code') + ' ').append($('<code class="mailwire-oauth-user-code"></code>').text(String(reply.userCode || ''))).appendTo($device);
                    show('running', t('oauth.device.waiting', { until: new Date(reply.expiresAt).toLocaleTimeString() }));
                    const every = Math.max(1, Number(reply.interval) || 5) * 1000;
                    const poll = function () {
                        timer = setTimeout(function () {
                            if (mine !== attempt || closed()) return;
                            $.ajax({ url: `mailwire/oauth/device/${encodeURIComponent(reply.id)}`, dataType: 'json', timeout: 10000 })
                                .done(function (answer) {
                                    if (mine !== attempt) return;
                                    if (answer.state === 'signed-in') {
                                        $device.empty();
                                        show('success', t('oauth.signin.done'));
                                        setBusy(false);
                                        refreshStatus();
                                    } else if (answer.state === 'failed') {
                                        $device.empty();
                                        show('failure', failureText(node, type, { code: answer.code || 'oauth-unavailable' }, { host: '', port: '' }));
                                        setBusy(false);
                                    } else {
                                        poll();
                                    }
                                })
                                .fail(function (xhr, textStatus) {
                                    if (mine !== attempt) return;
                                    show('failure', failureOf(xhr, textStatus));
                                    setBusy(false);
                                });
                        }, every);
                    };
                    poll();
                })
                .fail(function (xhr, textStatus) {
                    if (mine !== attempt) return;
                    show('failure', failureOf(xhr, textStatus));
                    setBusy(false);
                });
        }

        $signin.on('click', function (event) {
            event.preventDefault();
            if ($signin.prop('disabled')) return;
            stopPolling();
            if ($grant.val() === 'device-code') signInWithDevice();
            else signInWithCode();
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
        labels,
        connectionDefaults,
        connectionCredentials,
        nodeDefaults,
        setting,
        defaultPort,
        form,
        disclosure,
        showRows,
        connectionForm,
        failureText,
        connectionDialog,
        savePort,
        saveOAuth,
    });
})();
