import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/**
 * playwright-test always asks Playwright to install its own headless shell,
 * which cannot be downloaded here. Point Playwright's browser folder inside
 * node_modules at Debian's Chromium so the install step finds it present.
 * See ../shared/TOOLCHAIN.md.
 */
function useSystemChromium () {
  process.env.PLAYWRIGHT_BROWSERS_PATH = '0'

  let pwCore
  try {
    const require = createRequire(createRequire(import.meta.url).resolve('playwright-test/package.json'))
    pwCore = dirname(require.resolve('playwright-core/package.json'))
  } catch {
    return
  }

  const browsers = JSON.parse(readFileSync(join(pwCore, 'browsers.json'), 'utf8')).browsers
  const shell = browsers.find(b => b.name === 'chromium-headless-shell')
  const dir = join(pwCore, '.local-browsers', `chromium_headless_shell-${shell.revision}`)
  const bin = join(dir, 'chrome-headless-shell-linux64', 'chrome-headless-shell')

  if (!existsSync(bin) && existsSync(CHROMIUM)) {
    mkdirSync(dirname(bin), { recursive: true })
    symlinkSync(CHROMIUM, bin)
    writeFileSync(join(dir, 'INSTALLATION_COMPLETE'), '')
  }
}

useSystemChromium()

/** @type {import('aegir').PartialOptions} */
export default {
  dependencyCheck: {
    // the Node 24 that runs the npm scripts, not imported; a dependency of
    // the relay program only (relay/package.json), installed here for the
    // tests; this package itself, which the install test's scripts
    // (test/fixtures/installed) import from a fresh install of it
    ignore: ['node', 'proxy-protocol-js', 'relaymesh'],
    // aegir's defaults, the dev scripts, the relay program (its own package,
    // relay/package.json, checked by test/relay/dependency-direction.node.ts)
    // and the browser chat example, which is built and
    // served (not shipped as library code) and uses dev dependencies
    productionIgnorePatterns: ['/benchmark', '/benchmarks', '/dist', '/test', '/scripts', '/relay', '.aegir.js', '/examples/browser-chat']
  },
  docs: {
    publish: false,
    entryPoint: 'src/index.ts'
  },
  build: {
    bundle: false
  },
  test: {
    build: true,
    timeout: 120_000,
    browser: {
      config: {
        browserContextOptions: {
          executablePath: CHROMIUM,
          args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
        }
      }
    },
    async before (options) {
      // a real relay program and a Node peer for the browser tests
      if (!options.target.includes('browser')) {
        return {}
      }

      const { startRelayProcess } = await import('./test/fixtures/relay-process.ts')
      const { startEchoPeer } = await import('./test/fixtures/echo-peer-process.ts')
      const { startMeshMember } = await import('./test/fixtures/mesh-member-process.ts')
      const relay = await startRelayProcess()
      const [peer, ...members] = await Promise.all([
        startEchoPeer(relay.wsAddr),
        // Node members of the room the browser tests join
        // they answer every room message with `echo:<text>`
        startMeshMember({ relay: relay.wsAddr, room: 'browser-room', echo: true }),
        startMeshMember({ relay: relay.wsAddr, room: 'browser-room', echo: true })
      ])

      return {
        relay,
        peer,
        members,
        env: {
          RELAY_ADDR: relay.wsAddr,
          ECHO_PEER_ID: peer.peerId,
          ECHO_PEER_WEBRTC_ADDR: peer.webrtcAddr,
          MESH_ROOM: 'browser-room',
          MESH_MEMBER_IDS: members.map(member => member.peerId).join(',')
        }
      }
    },
    async after (options, before) {
      await Promise.all((before?.members ?? []).map(member => member.stop()))
      await before?.peer?.stop()
      await before?.relay?.stop()
    }
  }
}
