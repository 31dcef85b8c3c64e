// Station Core's own module life cycle around `simba run --api`, for tests/hosts/test_station_core.py.
//
// Usage: node station_core.mjs CORE_DIR STORAGE_PATH
//
// CORE_DIR is an installed, unmodified @filecoin-station/core (17.0.1, the last release
// whose lib/bacalhau.js runs a binary module that speaks the Station module interface).
// This harness does what Core's commands/station.js does for that module:
//
//     pRetry(() => bacalhau.run({ FIL_WALLET_ADDRESS, storagePath, onActivity, onMetrics }),
//            { retries: 1000 })
//
// with Core's own lib/bacalhau.js and Core's own p-retry.  bacalhau.run spawns
// CORE_DIR/modules/bacalhau/bacalhau (the test puts a two-line wrapper there that execs
// the SIMBA command in $SIMBA_MODULE_COMMAND), reads its API:/INFO:/ERROR: lines, polls
// its API every second and throws when it ends, and p-retry starts it again.
// Telemetry is stubbed: Sentry is never initialised (so captureException sends nothing)
// and there is no InfluxDB writer; what Core would hand its activity log and its metrics
// is printed as one JSON object per line on stdout.
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const [coreDir, storagePath] = process.argv.slice(2)
const require = createRequire(join(coreDir, 'package.json'))
const pRetry = (await import(pathToFileURL(require.resolve('p-retry')).href)).default
const bacalhau = await import(pathToFileURL(join(coreDir, 'lib', 'bacalhau.js')).href)

const say = record => process.stdout.write(JSON.stringify({ at: Date.now(), ...record }) + '\n')

say({ type: 'started', pid: process.pid })
await pRetry(() => bacalhau.run({
  FIL_WALLET_ADDRESS: 'f1hostharnesswalletaddress',
  storagePath,
  onActivity: activity => say({ type: 'activity', level: activity.type, message: activity.message }),
  onMetrics: metrics => say({ type: 'metrics', ...metrics })
}), {
  retries: 1000,
  onFailedAttempt: err => say({ type: 'restart', attempt: err.attemptNumber, message: err.message })
})
