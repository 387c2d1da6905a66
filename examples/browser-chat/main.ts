/**
 * The browser chat example, on relaymesh's public API only. It bootstraps
 * from the relay that served it (`/relaymesh.json`) or `?relay=`, joins the
 * room named by `?room=` (default `lobby`), private when the URL's fragment
 * holds `#secret=` (a fragment never leaves the browser), and shows what the
 * library knows. Keys are kept in localStorage (one per open tab) with the
 * name each person chose, and the room's log in IndexedDB, so a reload is the
 * same member, and what it missed while away is replayed. Names, who is
 * online and who is typing come from presence; a member chosen in "to" gets
 * a direct message; files go as large payloads with progress bars.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { IDBDatastore } from 'datastore-idb'
import { fromString, toString } from 'uint8arrays'
import { createMeshNode } from '../../src/index.ts'
import type { DirectMessage, IncomingPayload, MemberInfo, PayloadProgress, RoomMessage } from '../../src/index.ts'
import type { PeerId, PrivateKey } from '@libp2p/interface'

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T
const short = (id: { toString(): string }): string => id.toString().slice(-8)
const params = new URLSearchParams(location.search)
const roomName = params.get('room') ?? 'lobby'
/** `#secret=...`: read here, never sent anywhere (browsers keep fragments out of requests) */
const secret = new URLSearchParams(location.hash.slice(1)).get('secret') ?? undefined
/** payloads up to this size are fetched as soon as they are announced; larger ones on a click */
const AUTO_FETCH = 32 * 1024 * 1024
const MAX_NAME = 32
/** how long "typing…" lasts after the last key press */
const TYPING_FOR = 3000

/**
 * The relays to bootstrap from and the ICE servers to use: `?relay=`, or the
 * relay that served this page (`/relaymesh.json`: its addresses, its STUN
 * server and TURN servers). The relays we reserve on hand out their ICE
 * servers anyway; the page has them before the first reservation.
 */
async function relayInfo (): Promise<{ bootstrap: string[], iceServers: RTCIceServer[] }> {
  const given = params.getAll('relay')

  if (given.length > 0) {
    return { bootstrap: given, iceServers: [] }
  }

  const response = await fetch('/relaymesh.json')
  const info = await response.json()
  return {
    bootstrap: info.multiaddrs.filter((addr: string) => addr.includes('/ws')),
    iceServers: Array.isArray(info.iceServers) ? info.iceServers : []
  }
}

/**
 * This tab's key: the first of the keys kept in localStorage that no other
 * tab of this browser holds (a Web Lock per key, released when the tab goes),
 * else a new one. A reload gets its key back; a second tab is a new member.
 */
async function tabKey (): Promise<PrivateKey> {
  const keys: string[] = JSON.parse(localStorage.getItem('relaymesh-chat-keys') ?? '[]')

  for (const key of keys) {
    const privateKey = privateKeyFromProtobuf(fromString(key, 'base64'))

    if (await holdLock(privateKey)) {
      return privateKey
    }
  }

  const privateKey = await generateKeyPair('Ed25519')
  await holdLock(privateKey)
  localStorage.setItem('relaymesh-chat-keys', JSON.stringify([...keys, toString(privateKeyToProtobuf(privateKey), 'base64')]))
  return privateKey
}

/** takes the lock named after `key` for as long as this page lives, if it is free */
async function holdLock (key: PrivateKey): Promise<boolean> {
  return new Promise(resolve => {
    void navigator.locks.request(`relaymesh-chat-${key.publicKey.toString()}`, { ifAvailable: true }, async lock => {
      resolve(lock != null)

      if (lock != null) {
        await new Promise(() => {})
      }
    })
  })
}

/** a new private room's secret: 128 random bits, base64url */
function newSecret (): string {
  return toString(globalThis.crypto.getRandomValues(new Uint8Array(16)), 'base64url')
}

const privateKey = await tabKey()
const nameKey = `relaymesh-chat-name-${privateKey.publicKey.toString()}`
let myName = localStorage.getItem(nameKey) ?? `guest-${short(privateKey.publicKey).slice(-4)}`
const datastore = new IDBDatastore(`relaymesh-chat-${privateKey.publicKey.toString()}`)
await datastore.open()

const { bootstrap, iceServers } = await relayInfo()
const node = await createMeshNode({
  bootstrap,
  iceServers,
  privateKey,
  // the relay that served this page is a bootstrap address: it is dialed even
  // on 127.0.0.1 or a LAN address, other private addresses are not
  datastore
})
const room = await node.services.mesh.join(roomName, { secret })

/** what a member's presence says: a name (bounded, shown as text only) and whether it is typing */
function presenceOf (peerId: PeerId): { name?: string, typing: boolean } {
  const value = room.presence.find(p => p.peerId.equals(peerId))?.value as { name?: unknown, typing?: unknown } | undefined
  const name = typeof value?.name === 'string' && value.name.trim() !== '' ? value.name.trim().slice(0, MAX_NAME) : undefined
  return { name, typing: value?.typing === true }
}

/** how the page shows a member: its name, else the end of its peer id */
function nameOf (peerId: PeerId | string): string {
  const id = peerId.toString()

  if (id === node.peerId.toString()) {
    return myName
  }

  const member = room.members.find(m => m.peerId.toString() === id)
  return (member == null ? undefined : presenceOf(member.peerId).name) ?? short(id)
}

// header
$('room').textContent = roomName
$('private').hidden = !room.isPrivate
const nameInput = $<HTMLInputElement>('name')
nameInput.value = myName
nameInput.disabled = false

let typingUntil = 0
let typingTimer: ReturnType<typeof setTimeout> | undefined

async function publishPresence (): Promise<void> {
  await room.setPresence({ name: myName, typing: Date.now() < typingUntil })
}

nameInput.addEventListener('change', () => {
  const name = nameInput.value.trim().slice(0, MAX_NAME)

  if (name === '') {
    nameInput.value = myName
    return
  }

  myName = name
  nameInput.value = name
  localStorage.setItem(nameKey, name)
  void publishPresence()
  render()
})

$('new-private').addEventListener('click', () => {
  location.hash = `secret=${newSecret()}`
})
// another secret is another room: join it afresh
window.addEventListener('hashchange', () => { location.reload() })

if (room.isPrivate) {
  const invite = $<HTMLInputElement>('invite')
  invite.value = location.href
  $('invite-row').hidden = false
}

// messages

/** a member's name, kept current as names change (see `render`) */
function nameSpan (peerId: PeerId | string): HTMLSpanElement {
  const span = document.createElement('span')
  span.className = 'name'
  span.dataset.peer = peerId.toString()
  span.title = peerId.toString()
  span.textContent = nameOf(peerId)
  return span
}

/** a message's line: who sent it, and to whom when it was direct (`'you'`, or the recipient's peer id) */
function entry (sender: string, to?: string): HTMLLIElement {
  const li = document.createElement('li')
  li.dataset.sender = sender
  const from = document.createElement('span')
  from.className = 'from'
  from.append(nameSpan(sender))

  if (to != null) {
    from.append(' → ', to === 'you' ? 'you' : nameSpan(to))
  }

  from.append(': ')
  li.append(from)

  if (to != null) {
    li.classList.add('dm')
    li.dataset.direct = 'true'
  }

  $('messages').append(li)
  li.scrollIntoView()
  return li
}

function notice (...parts: Array<string | Node>): void {
  const li = document.createElement('li')
  li.className = 'notice'
  li.append(...parts)
  $('messages').append(li)
  li.scrollIntoView()
}

function showText (sender: string, text: string, options: { replayed?: boolean, to?: string } = {}): void {
  const li = entry(sender, options.to)
  li.append(text)

  if (options.replayed === true) {
    const mark = document.createElement('span')
    mark.className = 'replayed'
    mark.textContent = ' (replayed: sent while you were away)'
    li.append(mark)
    li.dataset.replayed = 'true'
  }
}

/** a file's entry: its name and size, a progress bar, then a download link (and the picture, for an image) */
function fileEntry (sender: string, file: { id: string, name?: string, size: number, type?: string }, to?: string): { li: HTMLLIElement, bar: HTMLProgressElement } {
  const li = entry(sender, to)
  li.classList.add('file')
  li.dataset.payload = file.id
  const label = document.createElement('span')
  label.textContent = `${file.name ?? 'a file'} (${formatSize(file.size)}) `
  const bar = document.createElement('progress')
  bar.max = file.size
  bar.value = 0
  li.append(label, bar)
  return { li, bar }
}

function formatSize (bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

function finished (li: HTMLLIElement, blob: Blob, name?: string): void {
  const url = URL.createObjectURL(blob)
  const link = document.createElement('a')
  link.href = url
  link.download = name ?? 'file'
  link.textContent = 'save'
  li.append(' ', link)

  if (blob.type.startsWith('image/')) {
    const img = document.createElement('img')
    img.src = url
    img.alt = name ?? 'an image'
    li.append(document.createElement('br'), img)
  }

  li.dataset.done = 'true'
}

/** fetches a payload another member sent (at once when small, else on a click), filling its bar */
function receiveFile (sender: string, payload: IncomingPayload, to?: string): void {
  const { li, bar } = fileEntry(sender, payload, to)
  const fetchIt = (): void => {
    payload.blob().then(blob => { finished(li, blob, payload.name) }, (err: Error) => {
      li.append(` (could not fetch it: ${err.message})`)
    })
  }
  bars.set(payload.id, bar)

  if (payload.size <= AUTO_FETCH) {
    fetchIt()
  } else {
    const button = document.createElement('button')
    button.textContent = 'fetch'
    button.addEventListener('click', () => { button.remove(); fetchIt() })
    li.append(' ', button)
  }
}

/** progress bars by payload id: downloads fill one, uploads fill the sender's (the furthest member) */
const bars = new Map<string, HTMLProgressElement>()

room.addEventListener('payload:progress', (evt: CustomEvent<PayloadProgress>) => {
  const bar = bars.get(evt.detail.id)

  if (bar != null) {
    bar.value = Math.max(bar.value, evt.detail.bytes)
    bar.title = `${evt.detail.direction === 'upload' ? `sent to ${nameOf(evt.detail.peerId)}` : 'received'}: ${formatSize(evt.detail.bytes)} of ${formatSize(evt.detail.total)}`
  }
})

room.addEventListener('message', (evt: CustomEvent<RoomMessage>) => {
  const { sender, payload, data, replayed } = evt.detail

  if (payload != null) {
    receiveFile(sender.toString(), payload)
  } else {
    showText(sender.toString(), new TextDecoder().decode(data), { replayed })
  }
})
room.addEventListener('direct', (evt: CustomEvent<DirectMessage>) => {
  const { sender, payload, data } = evt.detail

  if (payload != null) {
    receiveFile(sender.toString(), payload, 'you')
  } else {
    showText(sender.toString(), new TextDecoder().decode(data), { to: 'you' })
  }
})
room.addEventListener('member:joined', (evt: CustomEvent<MemberInfo>) => { notice(nameSpan(evt.detail.peerId), ' joined') })
room.addEventListener('member:left', (evt: CustomEvent<MemberInfo>) => { notice(nameSpan(evt.detail.peerId), ' left') })
room.addEventListener('member:unreachable', (evt: CustomEvent<MemberInfo>) => { notice(nameSpan(evt.detail.peerId), ' is unreachable') })
room.addEventListener('gap', (evt) => { notice(`messages ${evt.detail.from}-${evt.detail.to} of `, nameSpan(evt.detail.sender), ' are lost: no member holds them any more') })
room.addEventListener('presence', () => { render() })

// sending: to everyone, or to the member chosen in "to"
const input = $<HTMLInputElement>('text')
const to = $<HTMLSelectElement>('to')
const fileInput = $<HTMLInputElement>('file')

for (const element of [input, to, fileInput, $('send').querySelector('button')]) {
  element?.removeAttribute('disabled')
}

/** the member chosen in "to", if any */
function recipient (): PeerId | undefined {
  return room.members.find(m => m.peerId.toString() === to.value)?.peerId
}

input.addEventListener('input', () => {
  const wasTyping = Date.now() < typingUntil
  typingUntil = Date.now() + TYPING_FOR
  clearTimeout(typingTimer)
  typingTimer = setTimeout(() => { void publishPresence() }, TYPING_FOR)

  if (!wasTyping) {
    void publishPresence()
  }
})

$('send').addEventListener('submit', (evt) => {
  evt.preventDefault()
  const text = input.value.trim()

  if (text === '') {
    return
  }

  input.value = ''
  typingUntil = 0
  clearTimeout(typingTimer)
  void publishPresence()
  const target = recipient()
  const bytes = new TextEncoder().encode(text)
  const sent = target == null ? room.send(bytes) : room.sendTo(target, bytes)
  sent.then(() => {
    showText(node.peerId.toString(), text, { to: target?.toString() })
  }, (err: Error) => { notice(`could not send: ${err.message}`) })
})

fileInput.addEventListener('change', () => {
  const file = fileInput.files?.[0]
  fileInput.value = ''

  if (file == null) {
    return
  }

  const target = recipient()
  const options = { name: file.name, type: file.type === '' ? undefined : file.type }
  const sent = target == null ? room.send(file, options) : room.sendTo(target, file, options)
  sent.then(({ payloadId }) => {
    const { li, bar } = fileEntry(node.peerId.toString(), { id: payloadId ?? '', name: file.name, size: file.size }, target?.toString())
    bars.set(payloadId ?? '', bar)
    finished(li, file, file.name)
  }, (err: Error) => { notice(`could not send ${file.name}: ${err.message}`) })
})

// the side panel
function render (): void {
  const members = room.members

  for (const span of document.querySelectorAll<HTMLSpanElement>('span.name[data-peer]')) {
    span.textContent = nameOf(span.dataset.peer!)
  }

  const reached = members.filter(m => m.state === 'direct' || m.state === 'relayed' || m.route === 'forwarded')

  $('online').replaceChildren(...[{ peerId: node.peerId, self: true }, ...reached.map(m => ({ peerId: m.peerId, self: false }))].map(({ peerId, self }) => {
    const li = document.createElement('li')
    li.dataset.peer = peerId.toString()
    li.textContent = self ? `${myName} (you)` : nameOf(peerId)
    li.title = peerId.toString()
    return li
  }))

  const typing = reached.filter(m => presenceOf(m.peerId).typing).map(m => nameOf(m.peerId))
  $('typing').textContent = typing.length === 0 ? '' : `${typing.join(', ')} ${typing.length === 1 ? 'is' : 'are'} typing…`

  // rebuilt only when it changes, so an open list stays open
  const options = reached.map(m => [m.peerId.toString(), nameOf(m.peerId)])

  if (JSON.stringify(options) !== to.dataset.options) {
    const chosen = to.value
    to.dataset.options = JSON.stringify(options)
    to.replaceChildren(new Option('everyone', ''), ...options.map(([id, name]) => new Option(name, id)))
    to.value = options.some(([id]) => id === chosen) ? chosen : ''
  }

  $('members').replaceChildren(...members.map(m => {
    const tr = document.createElement('tr')
    tr.dataset.peer = m.peerId.toString()
    tr.dataset.route = m.route
    const cells = [nameOf(m.peerId), m.route, m.rtt == null ? '–' : `${Math.round(m.rtt)} ms`, String(m.score)]
    tr.append(...cells.map((text, i) => {
      const td = document.createElement('td')
      td.textContent = text
      if (i === 1) {
        td.className = m.route
      }
      return td
    }))
    return tr
  }))

  $('relays').replaceChildren(...node.services.relays.selected.map(r => {
    const li = document.createElement('li')
    const ice = (r.iceServers ?? []).flatMap(s => s.urls)
    li.textContent = `${short(r.peerId)}: ${r.latency == null ? '?' : `${Math.round(r.latency)} ms`}${ice.length > 0 ? `, ICE ${ice.join(' ')}` : ''}`
    return li
  }))

  if (room.threshold != null) {
    $('quorum').textContent = `${room.hasQuorum ? 'quorum' : 'no quorum'} (threshold ${room.threshold})`
  }

  // members on a circle, this one first; an edge per member we reach, coloured by route
  const svg = $('topology')
  const all = [{ id: node.peerId.toString(), route: 'self' }, ...members.map(m => ({ id: m.peerId.toString(), route: m.route }))]
  const at = (i: number): [number, number] => [160 + 75 * Math.cos(2 * Math.PI * i / all.length - Math.PI / 2), 100 + 75 * Math.sin(2 * Math.PI * i / all.length - Math.PI / 2)]
  const colour: Record<string, string> = { direct: '#080', relayed: '#b60', forwarded: '#75a', none: '#ccc' }
  const ns = 'http://www.w3.org/2000/svg'
  const shapes: SVGElement[] = []
  all.slice(1).forEach((m, i) => {
    const [x1, y1] = at(0)
    const [x2, y2] = at(i + 1)
    const line = document.createElementNS(ns, 'line')
    Object.entries({ x1, y1, x2, y2, stroke: colour[m.route] ?? '#ccc', 'stroke-width': 2 }).forEach(([k, v]) => { line.setAttribute(k, String(v)) })
    shapes.push(line)
  })
  all.forEach((m, i) => {
    const [x, y] = at(i)
    const circle = document.createElementNS(ns, 'circle')
    Object.entries({ cx: x, cy: y, r: 14, fill: i === 0 ? '#246' : '#68a' }).forEach(([k, v]) => { circle.setAttribute(k, String(v)) })
    const label = document.createElementNS(ns, 'text')
    Object.entries({ x, y: y + 28, 'text-anchor': 'middle', 'font-size': 10 }).forEach(([k, v]) => { label.setAttribute(k, String(v)) })
    label.textContent = nameOf(m.id)
    shapes.push(circle, label)
  })
  svg.replaceChildren(...shapes)
}

room.addEventListener('member:updated', render)
setInterval(render, 1000)
await publishPresence()
render()
Object.assign(globalThis, { chat: { node, room } })
