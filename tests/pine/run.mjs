// Runs pine/liquidation_levels_on_oi.pine in PineTS (npm "pinets", a Pine v5/v6 transpiler and
// runtime; AGPL-3.0, used here as a test tool only) and prints what the script produced as JSON.
//
//   node tests/pine/run.mjs [input.json] < input.json
//
// Input (a file argument, or stdin): one JSON object
//   bars       {time: [epoch ms of bar open], open, high, low, close, volume, open_interest:
//              [numbers, null for a missing value]} (columns of equal length)
//   inputs     {"<input title>": value, ...}: the script's inputs, by their titles (optional)
//   symbol     chart ticker, default "OKX:SOLUSDT.P"; basecurrency, default "SOL"
//   timeframe  Pine timeframe, default "60"; step_ms, default 3600000 (bar length)
//   script     path of the Pine script, default pine/liquidation_levels_on_oi.pine
//
// The chart ticker gets the bars. Any ticker ending in "_OI" (the script's request.security)
// gets one bar per present open_interest value (open = high = low = close = OI); a bar whose
// OI is null is absent from that series, as on TradingView. Other tickers get no bars.
//
// Output: {plots: {title: [value or null per bar]}, lines: [...], boxes: [...], tables:
// [...], requests: [tickers asked for], warnings: [...]}. Only lines and boxes still on the
// chart after the last bar are listed. A Pine runtime.error prints {"error": message} and
// exits with status 3.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Indicator, PineTS } from 'pinets';

const HERE = dirname(fileURLToPath(import.meta.url));
const DEFAULT_SCRIPT = resolve(HERE, '..', '..', 'pine', 'liquidation_levels_on_oi.pine');

const num = (v) => (v === null || v === undefined ? NaN : v);
const out = (v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v ?? null);

function klines(bars, step, valueOf) {
    const rows = [];
    for (let i = 0; i < bars.time.length; i++) {
        const row = valueOf(i);
        if (row === null) continue;
        rows.push({ openTime: bars.time[i], closeTime: bars.time[i] + step, ...row });
    }
    return rows;
}

function provider(spec, requests) {
    const { bars } = spec;
    const step = spec.step_ms ?? 3600000;
    const chart = klines(bars, step, (i) => ({
        open: num(bars.open[i]), high: num(bars.high[i]), low: num(bars.low[i]),
        close: num(bars.close[i]), volume: num(bars.volume[i]),
    }));
    const oi = klines(bars, step, (i) => {
        const v = bars.open_interest[i];
        return v === null ? null : { open: v, high: v, low: v, close: v, volume: 0 };
    });
    const chartTicker = (spec.symbol ?? 'OKX:SOLUSDT.P').split(':').pop();
    return {
        configure() {},
        async getMarketData(ticker) {
            requests.push(ticker);
            if (ticker.split(':').pop() === chartTicker) return chart.map((k) => ({ ...k }));
            if (ticker.endsWith('_OI')) return oi.map((k) => ({ ...k }));
            return [];
        },
        async getSymbolInfo(ticker) {
            const base = spec.basecurrency ?? 'SOL';
            return {
                ticker, tickerid: ticker, root: base, basecurrency: base, currency: 'USDT',
                type: 'crypto', timezone: 'Etc/UTC', session: '24x7', description: ticker,
                prefix: '', mintick: 1e-8, minmove: 1, pricescale: 1e8, pointvalue: 1,
            };
        },
    };
}

function drawn(ctx, key, fields) {
    const plot = ctx.plots[key];
    const objects = plot && plot.data.length ? plot.data[plot.data.length - 1].value : [];
    return objects.filter((o) => !o._deleted).map((o) => Object.fromEntries(
        fields.map((f) => [f, out(o[f])])));
}

function tables(ctx) {
    const plot = ctx.plots.__tables__;
    const objects = plot && plot.data.length ? plot.data[plot.data.length - 1].value : [];
    return objects.filter((t) => !t._deleted).map((t) => ({
        position: t.position ?? null,
        cells: (t.cells ?? []).flat().filter(Boolean).map((c) => c.text ?? null),
    }));
}

async function main() {
    const text = process.argv[2] ? readFileSync(process.argv[2], 'utf8') : readFileSync(0, 'utf8');
    const spec = JSON.parse(text);
    const source = readFileSync(spec.script ?? DEFAULT_SCRIPT, 'utf8');
    const requests = [];
    const pine = new PineTS(provider(spec, requests), spec.symbol ?? 'OKX:SOLUSDT.P',
                            spec.timeframe ?? '60', spec.bars.time.length);
    let ctx;
    try {
        ctx = await pine.run(new Indicator(source, spec.inputs ?? {}));
    } catch (err) {
        if (err && err.name === 'PineRuntimeError') {
            process.stdout.write(JSON.stringify({ error: err.message }) + '\n');
            process.exit(3);
        }
        throw err;
    }
    const plots = {};
    for (const [title, plot] of Object.entries(ctx.plots)) {
        if (!title.startsWith('__')) plots[title] = plot.data.map((d) => out(d.value));
    }
    const result = {
        plots,
        lines: drawn(ctx, '__lines__', ['x1', 'y1', 'x2', 'y2', 'extend', 'color', 'width']),
        boxes: drawn(ctx, '__boxes__', ['left', 'top', 'right', 'bottom', 'border_color',
                                        'bgcolor']),
        tables: tables(ctx),
        requests,
        warnings: ctx.warnings.map((w) => `bar ${w.bar}: ${w.message}`),
    };
    process.stdout.write(JSON.stringify(result) + '\n');
}

await main();
