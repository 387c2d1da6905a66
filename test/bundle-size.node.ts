/**
 * The browser entry as a user's bundler sees it (`benchmarks/bundle-size.ts`):
 * bundled through package.json from the built `dist/`, it holds no Node-only
 * code and stays within README.md's bundle budget.
 */
import { expect } from 'aegir/chai'
import { measureBundle, packageOf } from '../benchmarks/bundle-size.ts'
import type { BundleReport } from '../benchmarks/bundle-size.ts'

/** packages that only run in Node */
const NODE_ONLY = ['node-datachannel', '@libp2p/tcp', 'prom-client', '@libp2p/prometheus-metrics', 'ws']

describe('bundle size of the browser entry', function () {
  this.timeout(60_000)
  let report: BundleReport

  before(async () => {
    report = await measureBundle()
  })

  it('resolves relaymesh through package.json and its browser map, from dist/', () => {
    const inputs = Object.keys(report.ours.metafile.inputs)

    expect(inputs.filter(input => /dist\/src\/(node|webrtc\/rtc)(\.browser)?\.js$/.test(input)).map(input => input.replace(/.*dist\//, '')).sort())
      .to.deep.equal(['src/node.browser.js', 'src/webrtc/rtc.browser.js'])
    expect(inputs.filter(input => input.endsWith('.ts'))).to.deep.equal([])
  })

  it('holds no Node-only module and imports no node: builtin', () => {
    const { inputs } = report.ours.metafile
    const nodeOnly = Object.keys(inputs).filter(input => NODE_ONLY.includes(packageOf(input, report.ours.workDir)))
    const builtins = Object.entries(inputs).flatMap(([input, { imports }]) => imports
      .filter(i => i.path.startsWith('node:') || i.external === true)
      .map(i => `${input} imports ${i.path}`))

    expect(nodeOnly).to.deep.equal([])
    expect(builtins).to.deep.equal([])
  })

  it('is within the README budget, gzipped', () => {
    const top = report.ours.contributors.slice(0, 5).map(c => `${c.name} ${c.bytes}`).join(', ')

    expect(report.ours.gzipBytes).to.be.at.most(report.budgetBytes, `largest contributors (minified bytes): ${top}`)
    expect(report.ours.warnings).to.deep.equal([])
  })
})
