/**
 * Chromium-only tests. `.aegir.js` starts a relay program and a Node echo peer
 * before they run and passes their addresses in the environment.
 */
import './browser/webrtc.browser.ts'
import './browser/mesh.browser.ts'
