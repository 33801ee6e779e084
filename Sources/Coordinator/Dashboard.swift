import Foundation
import Runner
import Store
import Wire

/// The coordinator's dashboard: plain HTML with server-drawn SVG plots, refreshing itself
/// every few seconds. No script and nothing fetched from the internet.
enum Dashboard {
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static let style = """
        body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2733;background:#fbfcfd}
        h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 8px}
        table{border-collapse:collapse;margin:8px 0} td,th{padding:4px 10px;border-bottom:1px solid #dde3ea;text-align:left}
        th{font-weight:600;color:#4a5a6b} .num{text-align:right;font-variant-numeric:tabular-nums}
        .plots{display:flex;flex-wrap:wrap;gap:24px} figure{margin:0} figcaption{color:#4a5a6b;margin:4px 0}
        .ok{color:#17803d} .bad{color:#b42318} .muted{color:#6b7a8a} a{color:#1f5fbf}
        .cards{display:flex;gap:16px;flex-wrap:wrap} .card{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:8px 14px}
        .card b{display:block;font-size:18px}
        """

    static func page(title: String, body: String, refresh: Int = 3) -> String {
        """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="\(refresh)">
        <title>\(escape(title))</title><style>\(style)</style></head><body>\(body)</body></html>
        """
    }

    static func format(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "—" }

    /// `/`: every search and worker.
    static func index(searches: [SearchView], workers: [WorkerView]) -> String {
        var body = "<h1>longrope</h1><p class=muted>LongRoPE searches on this coordinator. Refreshes every 3 s.</p><h2>Searches</h2>"
        body += "<table><tr><th>id</th><th>name</th><th>status</th><th>step</th><th class=num>candidates</th><th class=num>best ppl</th><th>best baseline</th></tr>"
        for s in searches {
            let baseline = s.baselines.compactMap { k, v in v.map { (k, $0) } }.min { $0.1 < $1.1 }
            body += "<tr><td><a href=\"/searches/\(s.id)\">\(s.id)</a></td><td>\(escape(s.name))</td><td>\(s.status)</td>"
                + "<td>\(s.step + 1)/\(s.steps)</td><td class=num>\(s.candidates)/\(s.candidatesPlanned)</td>"
                + "<td class=num>\(format(s.best?.ppl))</td><td>\(baseline.map { "\($0.0) \(format($0.1))" } ?? "—")</td></tr>"
        }
        body += "</table>" + workersTable(workers)
        return page(title: "longrope", body: body)
    }

    static func workersTable(_ workers: [WorkerView]) -> String {
        var body = "<h2>Workers</h2><table><tr><th>id</th><th>name</th><th>address</th><th>health</th><th>busy</th><th class=num>threads</th><th class=num>units</th><th class=num>failed</th><th class=num>units/min</th><th class=num>last heartbeat</th></tr>"
        for w in workers {
            body += "<tr><td>\(w.id)</td><td>\(escape(w.name))</td><td>\(escape(w.address))</td>"
                + "<td class=\(w.healthy ? "ok" : "bad")>\(w.healthy ? "healthy" : "lost")</td><td>\(w.busy ? "yes" : "no")</td>"
                + "<td class=num>\(w.threads)</td><td class=num>\(w.unitsDone)</td><td class=num>\(w.unitsFailed)</td>"
                + String(format: "<td class=num>%.1f</td><td class=num>%.0f s ago</td></tr>", w.unitsPerMinute, w.secondsSinceHeartbeat)
        }
        if workers.isEmpty { body += "<tr><td colspan=10 class=muted>no worker attached</td></tr>" }
        return body + "</table>"
    }

    static let palette = ["#c2410c", "#7c3aed", "#0f766e", "#a16207", "#be185d"]

    /// How the search's steps are scheduled, in words.
    static func schedule(_ view: SearchView) -> String {
        if view.overlapSteps { return "overlapped steps (not reproducible)" }
        var parts = [view.pipelineDepth > 1 ? "\(view.pipelineDepth) steps in flight" : "one step at a time"]
        if view.islands > 1 {
            parts.append("\(view.islands) islands" + (view.migrationInterval > 0 ? ", migration every \(view.migrationInterval) iterations" : ", no migration"))
        }
        return parts.joined(separator: "; ")
    }

    /// `/searches/{id}`: the plots of one search.
    static func search(_ view: SearchView, history: [HistoryPoint], baselines: [BaselineRecord], workers: [WorkerView]) -> String {
        var body = "<p><a href=\"/\">← all searches</a></p><h1>Search \(view.id): \(escape(view.name))</h1>"
        body += "<p class=muted>\(view.originalContext) → \(view.targetContext) tokens, seed \(view.seed), status <b>\(view.status)</b>\(view.error.map { " — " + escape($0) } ?? "")\(view.waiting.map { " — " + escape($0) } ?? "")\(view.rules.flatMap { $0.isDone ? nil : " — rules: " + escape($0.describe(fitness: view.fitness)) } ?? "")</p>"
        body += "<div class=cards>"
        let other = view.fitness != "ppl"
        let label = other ? view.fitness : "ppl"
        body += card("best \(label)", format(view.best?.ppl))
        if let best = view.baselineFitness.compactMap({ k, v in v.map { (k, $0) } }).min(by: { $0.1 < $1.1 }) {
            body += card("best baseline (\(best.0))", format(best.1))
        }
        body += card("step", "\(view.step + 1) / \(view.steps)")
        body += card("candidates", "\(view.candidates) / \(view.candidatesPlanned)")
        body += card("units done", view.unitsDoneDescription) + card("in flight", "\(view.unitsInFlight)")
        body += card("queued", "\(view.unitsQueued)") + card("failed", "\(view.unitsFailed)")
        body += card("left", view.secondsLeft.map(TimeLeft.describe) ?? "—")
        body += card("n̂", view.best.map { "\($0.nHat)" } ?? "—")
        body += card(view.attentionRange.map { String(format: "m (searched in %.2f–%.2f)", $0[0], $0[1]) } ?? "m (fixed)",
                     view.best.map { String(format: "%.4f", $0.attentionFactor) } ?? "—")
        body += card("space", view.space + (view.best?.criticalPair.map { ", d_rcd \($0)" } ?? ""))
        body += card("schedule", schedule(view))
        body += "</div><div class=plots>"
        // Best perplexity per step, baselines as flat lines.
        var series = [Series(name: "search best", color: "#1f5fbf", points: history.compactMap { p in p.bestPPL.map { (Double(p.step), $0) } }, dashed: false)]
        let lastStep = Double(max(view.steps - 1, history.last?.step ?? 1, 1))
        for (i, b) in baselines.enumerated() {
            guard let p = other ? b.fitness : b.perplexity else { continue }
            series.append(Series(name: b.method, color: palette[i % palette.count], points: [(0, p), (lastStep, p)], dashed: true))
        }
        body += "<figure><figcaption>Best \(other ? escape(view.fitness) + " perplexity" : "perplexity") per step (log scale) against the baselines</figcaption>"
            + plot(series, xLabel: "step", yLabel: "perplexity", logY: true, id: "history") + "</figure>"
        // λ_i against i.
        var lambdas: [Series] = []
        if let best = view.best {
            lambdas.append(Series(name: "search best", color: "#1f5fbf", points: best.lambda.enumerated().map { (Double($0.offset), $0.element) }, dashed: false))
        }
        for (i, b) in baselines.enumerated() {
            lambdas.append(Series(name: b.method, color: palette[i % palette.count], points: b.lambda.enumerated().map { (Double($0.offset), $0.element) }, dashed: true))
        }
        body += "<figure><figcaption>Rescale factor λ<sub>i</sub> per rotary pair i</figcaption>"
            + plot(lambdas, xLabel: "pair i", yLabel: "λ", logY: false, id: "lambda") + "</figure></div>"
        body += "<h2>Baselines (each also a seed)</h2><table><tr><th>method</th><th class=num>ppl</th>"
            + (other ? "<th class=num>\(escape(view.fitness))</th>" : "") + "<th class=num>m</th></tr>"
        for b in baselines {
            body += "<tr><td>\(b.method)</td><td class=num>\(b.perplexity.map { String(format: "%.4f", $0) } ?? "infeasible")</td>"
                + (other ? "<td class=num>\(b.fitness.map { String(format: "%.4f", $0) } ?? "—")</td>" : "")
                + "<td class=num>\(String(format: "%.4f", b.attentionFactor))</td></tr>"
        }
        body += "</table>" + workersTable(workers)
        return page(title: "longrope search \(view.id)", body: body)
    }

    static func card(_ label: String, _ value: String) -> String {
        "<div class=card><span class=muted>\(escape(label))</span><b>\(escape(value))</b></div>"
    }

    struct Series {
        var name: String
        var color: String
        var points: [(Double, Double)]
        var dashed: Bool
    }

    /// A line plot as SVG with axes, ticks and a legend.
    static func plot(_ series: [Series], xLabel: String, yLabel: String, logY: Bool, id: String) -> String {
        let width = 560.0, height = 320.0, left = 64.0, right = 150.0, top = 16.0, bottom = 40.0
        let all = series.flatMap(\.points).filter { $0.1.isFinite && (!logY || $0.1 > 0) }
        guard !all.isEmpty else {
            return "<svg id=\"\(id)\" width=\"\(Int(width))\" height=\"\(Int(height))\"><text x=\"20\" y=\"40\" fill=\"#6b7a8a\">no data yet</text></svg>"
        }
        let fy: (Double) -> Double = logY ? { log10($0) } : { $0 }
        var (x0, x1) = (all.map(\.0).min()!, all.map(\.0).max()!)
        var (y0, y1) = (all.map { fy($0.1) }.min()!, all.map { fy($0.1) }.max()!)
        if x1 == x0 { x1 = x0 + 1 }
        if y1 - y0 < 1e-9 { y0 -= 0.5; y1 += 0.5 }
        let pad = (y1 - y0) * 0.06
        y0 -= pad; y1 += pad
        let plotW = width - left - right, plotH = height - top - bottom
        func sx(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * plotW }
        func sy(_ y: Double) -> Double { top + (1 - (fy(y) - y0) / (y1 - y0)) * plotH }
        var svg = "<svg id=\"\(id)\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-size=\"11\">"
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotW)\" height=\"\(plotH)\" fill=\"#fff\" stroke=\"#c9d2dc\"/>"
        for k in 0...4 {
            let v = y0 + (y1 - y0) * Double(k) / 4
            let y = top + (1 - Double(k) / 4) * plotH
            let label = logY ? pow(10, v) : v
            svg += "<line x1=\"\(left)\" x2=\"\(left + plotW)\" y1=\"\(y)\" y2=\"\(y)\" stroke=\"#eef1f4\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(y + 4)\" text-anchor=\"end\" fill=\"#4a5a6b\">\(String(format: label < 10 ? "%.2f" : "%.1f", label))</text>"
        }
        // x ticks: every integer when there are few, else five evenly spaced whole numbers.
        let xTicks: [Double] = x1 - x0 <= 12 ? Array(stride(from: x0.rounded(.up), through: x1, by: 1))
            : (0...4).map { (x0 + (x1 - x0) * Double($0) / 4).rounded() }
        for xv in xTicks {
            svg += "<text x=\"\(sx(xv))\" y=\"\(top + plotH + 16)\" text-anchor=\"middle\" fill=\"#4a5a6b\">\(String(format: "%.0f", xv))</text>"
        }
        svg += "<text x=\"\(left + plotW / 2)\" y=\"\(height - 6)\" text-anchor=\"middle\" fill=\"#4a5a6b\">\(escape(xLabel))</text>"
        svg += "<text transform=\"translate(14 \(top + plotH / 2)) rotate(-90)\" text-anchor=\"middle\" fill=\"#4a5a6b\">\(escape(yLabel))</text>"
        for (i, s) in series.enumerated() {
            let points = s.points.filter { $0.1.isFinite && (!logY || $0.1 > 0) }
            guard !points.isEmpty else { continue }
            let path = points.map { String(format: "%.1f,%.1f", sx($0.0), sy($0.1)) }.joined(separator: " ")
            svg += "<polyline class=\"series\" data-name=\"\(escape(s.name))\" data-points=\"\(points.count)\" points=\"\(path)\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"\(s.dashed ? 1.5 : 2.5)\"\(s.dashed ? " stroke-dasharray=\"5 4\"" : "")/>"
            if !s.dashed {
                for p in points { svg += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%@\"/>", sx(p.0), sy(p.1), s.color) }
            }
            let ly = top + 12 + Double(i) * 16
            svg += "<line x1=\"\(width - right + 12)\" x2=\"\(width - right + 32)\" y1=\"\(ly - 4)\" y2=\"\(ly - 4)\" stroke=\"\(s.color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"5 4\"" : "")/>"
            svg += "<text x=\"\(width - right + 38)\" y=\"\(ly)\" fill=\"#1d2733\">\(escape(s.name))</text>"
        }
        return svg + "</svg>"
    }
}
