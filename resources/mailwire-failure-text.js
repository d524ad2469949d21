/*
  The text of a connection failure (a Validate reply's `message`, a node's error), built in one
  place for both sides of @mailwire/node-red-email:
    - the runtime loads this file with require() (src/nodes/shared/describe-failure.ts finds it
      in the package's resources/ folder);
    - the editor loads it with <script src="resources/@mailwire/node-red-email/mailwire-failure-text.js">
      from the connection dialogs, and mailwire-editor.js uses window.MailwireFailureText.
  Plain JavaScript without dependencies, because Node-RED serves resources/ to the browser as is.
*/
(function (root, factory) {
    'use strict';
    if (typeof module === 'object' && module && module.exports) module.exports = factory();
    else root.MailwireFailureText = factory();
})(typeof self !== 'undefined' ? self : this, function () {
    'use strict';

    /** Details whose value is itself a catalog key, with the part of the catalog it names. */
    const KEYED_DETAILS = Object.freeze({
        problem: 'errors.config.', // which setting is incomplete or malformed
        found: 'found.', // what the server speaks on the port (tls-mode)
    });

    /**
     * The message of failure `code` from the catalog of the connection type `type`, or null when
     * that catalog has no message for the code.
     *
     *   type       the connection node type, e.g. 'mailwire-receive-connection'
     *   code       a failure code: 'auth', 'tls-untrusted', 'invalid-config', …
     *   details    the message's values (host, port, subject, fingerprint, folder, problem, found, …)
     *   translate  (key, values) => text: the catalog lookup (the runtime's RED._, a node's `_` in
     *              the editor), which answers a key it does not know with the key itself
     *
     * Pure: reads nothing but its arguments and changes none of them.
     */
    function failureText(type, code, details, translate) {
        function lookup(key, values) {
            const full = type + '.' + key;
            const text = translate(full, values);
            return typeof text === 'string' && text !== full ? text : null;
        }
        if (typeof code !== 'string' || code === '') return null;
        const values = Object.assign({}, details);
        for (const name of Object.keys(KEYED_DETAILS)) {
            const value = values[name];
            if (typeof value === 'string' && value !== '') values[name] = lookup(KEYED_DETAILS[name] + value, values) || value;
        }
        return lookup('errors.' + code, values);
    }

    return Object.freeze({ failureText: failureText });
});
