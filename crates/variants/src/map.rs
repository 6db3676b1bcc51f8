//! A 2-D map of an object among its nearest reference samples (SVG): the first two principal
//! components of the neighbourhood, coloured by family and verdict. People judge "is this a
//! variant of that?" faster from a picture than from a list of similarities.

use crate::{Reference, Verdict};

/// Two principal components of a few vectors by power iteration (no linear-algebra crate).
fn project(points: &[Vec<f32>]) -> Vec<(f32, f32)> {
    let dim = points.first().map_or(0, Vec::len);
    let n = points.len().max(1) as f32;
    let mean: Vec<f32> = (0..dim)
        .map(|d| points.iter().map(|p| p[d]).sum::<f32>() / n)
        .collect();
    let centred: Vec<Vec<f32>> = points
        .iter()
        .map(|p| p.iter().zip(&mean).map(|(x, m)| x - m).collect())
        .collect();
    let component = |exclude: Option<&Vec<f32>>| -> Vec<f32> {
        let mut v: Vec<f32> = (0..dim).map(|d| ((d * 7919) % 13) as f32 - 6.0).collect();
        for _ in 0..60 {
            let mut next = vec![0f32; dim];
            for c in &centred {
                let s: f32 = c.iter().zip(&v).map(|(a, b)| a * b).sum();
                for (x, y) in next.iter_mut().zip(c) {
                    *x += s * y;
                }
            }
            if let Some(e) = exclude {
                let s: f32 = next.iter().zip(e).map(|(a, b)| a * b).sum();
                for (x, y) in next.iter_mut().zip(e) {
                    *x -= s * y;
                }
            }
            let norm = next.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
            v = next.into_iter().map(|x| x / norm).collect();
        }
        v
    };
    let first = component(None);
    let second = component(Some(&first));
    centred
        .iter()
        .map(|c| {
            (
                c.iter().zip(&first).map(|(a, b)| a * b).sum(),
                c.iter().zip(&second).map(|(a, b)| a * b).sum(),
            )
        })
        .collect()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The map as an SVG document: `name` (the object) among `near` (references, similarity).
pub fn neighbour_map(name: &str, vector: &[f32], near: &[(&Reference, f32)]) -> String {
    let mut points = vec![vector.to_vec()];
    points.extend(near.iter().map(|(r, _)| r.vector()));
    let xy = project(&points);
    let (min_x, max_x) = xy
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (min_y, max_y) = xy
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let scale = |v: f32, lo: f32, hi: f32| 40.0 + (v - lo) / (hi - lo).max(1e-6) * 520.0;
    let palette = [
        "#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#1f77b4",
    ];
    let mut families: Vec<&str> = near
        .iter()
        .filter(|(r, _)| r.verdict == Verdict::Malicious)
        .map(|(r, _)| r.family.as_str())
        .collect();
    families.sort_unstable();
    families.dedup();
    let colour = |r: &Reference| match r.verdict {
        Verdict::Benign => "#2ca02c",
        Verdict::Malicious => {
            let i = families.iter().position(|f| *f == r.family).unwrap_or(0);
            palette[i % palette.len()]
        }
    };
    let mut svg = String::from(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"800\" height=\"600\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"800\" height=\"600\" fill=\"white\"/>\n",
    );
    for (i, ((r, s), (x, y))) in near.iter().zip(xy.iter().skip(1)).enumerate() {
        let (cx, cy) = (scale(*x, min_x, max_x), scale(*y, min_y, max_y));
        svg.push_str(&format!(
            "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"6\" fill=\"{}\"><title>{} ({}, {s:.3})</title></circle>\n",
            colour(r),
            escape(&r.name),
            if r.verdict == Verdict::Benign { "known-good".to_string() } else { escape(&r.family) }
        ));
        if i < 5 {
            svg.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
                cx + 8.0,
                cy + 4.0,
                escape(&r.name)
            ));
        }
    }
    let (x, y) = xy[0];
    let (cx, cy) = (scale(x, min_x, max_x), scale(y, min_y, max_y));
    svg.push_str(&format!(
        "<path d=\"M{:.1},{:.1} l6,10 h-12 z\" transform=\"translate(0,-6)\" fill=\"black\"/><text x=\"{:.1}\" y=\"{:.1}\" font-weight=\"bold\">{}</text>\n",
        cx, cy, cx + 9.0, cy + 4.0, escape(name)
    ));
    let mut ly = 30.0;
    for f in &families {
        let i = families.iter().position(|x| x == f).unwrap_or(0);
        svg.push_str(&format!(
            "<circle cx=\"620\" cy=\"{ly}\" r=\"6\" fill=\"{}\"/><text x=\"632\" y=\"{}\">{}</text>\n",
            palette[i % palette.len()],
            ly + 4.0,
            escape(f)
        ));
        ly += 18.0;
    }
    svg.push_str(&format!(
        "<circle cx=\"620\" cy=\"{ly}\" r=\"6\" fill=\"#2ca02c\"/><text x=\"632\" y=\"{}\">known-good</text>\n</svg>\n",
        ly + 4.0
    ));
    svg
}
