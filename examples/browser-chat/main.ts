/**
 * The browser chat example, on relaymesh's public API only. It bootstraps
 * from the relay that served it (`/relaymesh.json`) or `?relay=`, joins the
 * room named by `?room=` (default `lobby`) and shows what the library knows.
 * Keys are kept in localStorage (one per open tab) and the room's log in
 * IndexedDB, so a reload is the same member, and what it missed while away is
 * replayed.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { IDBDatastore } from 'datastore-idb'
import { fromString, toString } from 'uint8arrays'
import { createMeshNode } from '../../src/index.ts'
import type { MemberInfo, RoomMessage } from '../../src/index.ts'
import type { PrivateKey } from '@libp2p/interface'

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T
const short = (id: { toString(): string }): string => id.toString().slice(-8)
const params = new URLSearchParams(location.search)
const roomName = params.get('room') ?? 'lobby'

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

function notice (text: string): void {
  const li = document.createElement('li')
  li.className = 'notice'
  li.textContent = text
  $('messages').append(li)
}

function showMessage (sender: string, text: string, replayed: boolean): void {
  const li = document.createElement('li')
  li.dataset.sender = sender
  const from = document.createElement('span')
  from.className = 'from'
  from.textContent = `<${short(sender)}> `
  li.append(from, text)

  if (replayed) {
    const mark = document.createElement('span')
    mark.className = 'replayed'
    mark.textContent = ' (replayed: sent while you were away)'
    li.append(mark)
    li.dataset.replayed = 'true'
  }

  $('messages').append(li)
  li.scrollIntoView()
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

const privateKey = await tabKey()
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
const room = await node.services.mesh.join(roomName)
$('room').textContent = roomName
$('self').textContent = short(node.peerId)

room.addEventListener('message', (evt: CustomEvent<RoomMessage>) => {
  showMessage(evt.detail.sender.toString(), new TextDecoder().decode(evt.detail.data), evt.detail.replayed)
})
room.addEventListener('member:joined', (evt: CustomEvent<MemberInfo>) => { notice(`${short(evt.detail.peerId)} joined`) })
room.addEventListener('member:left', (evt: CustomEvent<MemberInfo>) => { notice(`${short(evt.detail.peerId)} left`) })
room.addEventListener('member:unreachable', (evt: CustomEvent<MemberInfo>) => { notice(`${short(evt.detail.peerId)} is unreachable`) })
room.addEventListener('gap', (evt) => { notice(`messages ${evt.detail.from}-${evt.detail.to} of ${short(evt.detail.sender)} are lost: no member holds them any more`) })

const input = $<HTMLInputElement>('text')
input.disabled = false
$('send').querySelector('button')?.removeAttribute('disabled')
$('send').addEventListener('submit', (evt) => {
  evt.preventDefault()
  const text = input.value.trim()

  if (text === '') {
    return
  }

  input.value = ''
  room.send(new TextEncoder().encode(text)).then(() => {
    showMessage(node.peerId.toString(), text, false)
  }, (err: Error) => { notice(`could not send: ${err.message}`) })
})

function render (): void {
  const members = room.members
  $('members').replaceChildren(...members.map(m => {
    const tr = document.createElement('tr')
    tr.dataset.peer = m.peerId.toString()
    tr.dataset.route = m.route
    const cells = [short(m.peerId), m.route, m.rtt == null ? '–' : `${Math.round(m.rtt)} ms`, String(m.score)]
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
    label.textContent = short(m.id)
    shapes.push(circle, label)
  })
  svg.replaceChildren(...shapes)
}

room.addEventListener('member:updated', render)
setInterval(render, 1000)
render()
Object.assign(globalThis, { chat: { node, room } })
