/** The job summary: what was published, how to pull exactly it, and the labels it carries. */
import * as core from '@actions/core'
import type { PublishResult } from './outputs.js'

/** 1536 → "1.5 KiB"; exact bytes are given next to it in the summary. */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`
}

function sizeText(result: PublishResult): string {
  if (result.size !== null) {
    return `${formatBytes(result.size)} compressed (${result.size.toLocaleString('en-US')} bytes)`
  }
  if (!result.digest && result.localSize) {
    return `${formatBytes(result.localSize)} uncompressed (local image; the compressed size is known once pushed)`
  }
  return 'unknown'
}

export async function writeSummary(result: PublishResult, hasStepSummary: boolean): Promise<void> {
  const { names, digest, imageId } = result
  // Always set on a runner; not when run locally (e.g. with @github/local-action).
  if (!hasStepSummary) {
    core.info('GITHUB_STEP_SUMMARY is not set: no job summary written.')
    return
  }
  const code = (s: string): string => `<code>${escapeHtml(s)}</code>`
  const pull = digest ? `docker pull ${names.image}@${digest}` : ''
  const rows: string[][] = [
    ['Image', code(names.image)],
    ['Tags', names.tags.length ? names.tags.map(code).join('<br>') : 'none: pushed by digest'],
    ['Digest', digest ? code(digest) : 'not pushed (<code>push: false</code>)'],
    ['Size', escapeHtml(sizeText(result))],
    ['Platform', result.platform ? code(result.platform) : 'unknown'],
    ['Pull', pull ? code(pull) : 'not pushed'],
    [
      'Package',
      result.packageUrl
        ? `<a href="${escapeHtml(result.packageUrl)}">${escapeHtml(result.packageUrl)}</a>`
        : `no package page on GitHub for ${code(names.registry)}`
    ],
    ['Image ID', imageId ? code(imageId) : 'none (no single local image)'],
    ['Registry', `${code(names.registry)} (${names.registryType} naming)`],
    ['Builder', escapeHtml(result.builder)],
    ...(result.route ? [['Route', escapeHtml(result.route)]] : []),
    ...(result.way ? [['Publishing', escapeHtml(result.way)]] : []),
    ...(result.buildCache ? [['Build cache', result.buildCache]] : [])
  ]
  const summary = core.summary
    .addHeading(digest ? `Published ${names.image}` : `Built ${names.image} (not pushed)`, 3)
    .addTable([
      [
        { data: 'Field', header: true },
        { data: 'Value', header: true }
      ],
      ...rows
    ])
  const labels = Object.entries(result.labels)
  if (labels.length) {
    const table = labels
      .map(([k, v]) => `<tr><td>${code(k)}</td><td>${escapeHtml(v)}</td></tr>`)
      .join('')
    const title = result.labelsAre === 'annotations' ? 'Index annotations' : 'Labels'
    const head = result.labelsAre === 'annotations' ? 'Annotation' : 'Label'
    summary.addDetails(
      `${title} (${labels.length})`,
      `<table><tr><th>${head}</th><th>Value</th></tr>${table}</table>`
    )
  }
  if (pull) summary.addRaw('Pull exactly this image:', true).addCodeBlock(pull, 'shell')
  await summary.write()
}

function escapeHtml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
}
