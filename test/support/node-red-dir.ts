import path from 'node:path';

/** The Node-RED under test: node_modules/node-red, or another line given by MAILWIRE_NODE_RED. */
export const nodeRedDir = process.env.MAILWIRE_NODE_RED ?? path.dirname(require.resolve('node-red/package.json'));
