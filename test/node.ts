/**
 * Node-only tests. aegir runs `test/node.ts` and `test/**\/*.spec.ts` under
 * Node; files here run real processes, which browsers cannot.
 */
import './fixtures/datachannel-cleanup.ts'
import './relay/program.node.ts'
import './relay/compliance.node.ts'
import './relay/dht.node.ts'
import './relay/provide.node.ts'
import './relay/limits.node.ts'
import './relay/delay-proxy.node.ts'
import './node/mesh-node.node.ts'
import './relay-server/server.node.ts'
import './relays/relays.node.ts'
import './mesh/mesh.node.ts'
import './mesh/bad-input.node.ts'
import './mesh/processes.node.ts'
import './mesh/messages.node.ts'
import './mesh/hostile.node.ts'
import './mesh/page-reload.node.ts'
import './examples/cli-chat.node.ts'
import './examples/browser-chat.node.ts'
import './examples/npm-start.node.ts'
