//! Approximate nearest neighbours by cosine similarity: an inverted file (IVF). Vectors are
//! quantised to i8 (a quarter of the memory, integer dot products) and grouped by their nearest
//! of `nlist` k-means centroids; a query scores the centroids, then every vector of the
//! `nprobe` best lists. Small stores (up to 20,000 vectors) are one list: exact search.

use crate::DIM;

const EXACT_UP_TO: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour {
    /// Position of the vector in the order it was given to `build`.
    pub id: u32,
    pub similarity: f32,
}

#[derive(Debug, Default, Clone)]
pub struct Index {
    centroids: Vec<f32>,
    /// Codes grouped by list; `offsets[l]..offsets[l + 1]` is list l.
    codes: Vec<i8>,
    ids: Vec<u32>,
    offsets: Vec<usize>,
    nprobe: usize,
}

pub fn quantise(v: &[f32]) -> Vec<i8> {
    v.iter()
        .map(|x| (x * 127.0).round().clamp(-127.0, 127.0) as i8)
        .collect()
}

/// i8 dot product in 16-bit products summed pairwise (what pmaddwd does: SSE2 has it, so the
/// compiler vectorises this without target flags).
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = 0i32;
    for (ca, cb) in a.chunks_exact(16).zip(b.chunks_exact(16)) {
        let mut s = 0i32;
        for i in 0..16 {
            s += i32::from(i16::from(ca[i]) * i16::from(cb[i]));
        }
        acc += s;
    }
    acc
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn nearest_centroid(centroids: &[f32], v: &[f32]) -> usize {
    let mut best = (0, f32::MIN);
    for (i, c) in centroids.chunks_exact(DIM).enumerate() {
        let s = dot(c, v);
        if s > best.1 {
            best = (i, s);
        }
    }
    best.0
}

impl Index {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// `vectors`: n × DIM, normalised.
    pub fn build(vectors: &[f32]) -> Index {
        let n = vectors.len() / DIM;
        if n == 0 {
            return Index::default();
        }
        let nlist = if n <= EXACT_UP_TO {
            1
        } else {
            ((n as f64).sqrt() as usize / 4).clamp(16, 1024)
        };
        let centroids = if nlist == 1 {
            vec![0.0; DIM]
        } else {
            kmeans(vectors, nlist)
        };
        // Assign every vector to its list (in parallel: this is the slow part of a build).
        let mut assignment = vec![0usize; n];
        if nlist > 1 {
            let threads = std::thread::available_parallelism().map_or(1, |p| p.get());
            let chunk = n.div_ceil(threads);
            std::thread::scope(|scope| {
                for (t, out) in assignment.chunks_mut(chunk).enumerate() {
                    let centroids = &centroids;
                    scope.spawn(move || {
                        for (j, a) in out.iter_mut().enumerate() {
                            let i = t * chunk + j;
                            *a = nearest_centroid(centroids, &vectors[i * DIM..(i + 1) * DIM]);
                        }
                    });
                }
            });
        }
        let mut counts = vec![0usize; nlist];
        for a in &assignment {
            counts[*a] += 1;
        }
        let mut offsets = vec![0usize; nlist + 1];
        for l in 0..nlist {
            offsets[l + 1] = offsets[l] + counts[l];
        }
        let mut fill = offsets.clone();
        let mut codes = vec![0i8; n * DIM];
        let mut ids = vec![0u32; n];
        for (i, a) in assignment.iter().enumerate() {
            let at = fill[*a];
            fill[*a] += 1;
            ids[at] = i as u32;
            codes[at * DIM..(at + 1) * DIM]
                .copy_from_slice(&quantise(&vectors[i * DIM..(i + 1) * DIM]));
        }
        Index {
            centroids,
            codes,
            ids,
            offsets,
            nprobe: if nlist == 1 { 1 } else { 8.min(nlist) },
        }
    }

    /// The `k` most similar vectors among the probed lists, most similar first.
    pub fn search(&self, query: &[f32], k: usize) -> Vec<Neighbour> {
        if self.ids.is_empty() || k == 0 {
            return Vec::new();
        }
        let nlist = self.offsets.len() - 1;
        let mut lists: Vec<(usize, f32)> = if nlist == 1 {
            vec![(0, 0.0)]
        } else {
            self.centroids
                .chunks_exact(DIM)
                .enumerate()
                .map(|(i, c)| (i, dot(c, query)))
                .collect()
        };
        lists.sort_by(|a, b| b.1.total_cmp(&a.1));
        let q = quantise(query);
        let mut best: Vec<Neighbour> = Vec::with_capacity(k + 1);
        for (list, _) in lists.iter().take(self.nprobe) {
            for row in self.offsets[*list]..self.offsets[*list + 1] {
                let s =
                    dot_i8(&q, &self.codes[row * DIM..(row + 1) * DIM]) as f32 / (127.0 * 127.0);
                if best.len() < k || s > best[best.len() - 1].similarity {
                    let at = best.partition_point(|n| n.similarity >= s);
                    best.insert(
                        at,
                        Neighbour {
                            id: self.ids[row],
                            similarity: s,
                        },
                    );
                    best.truncate(k);
                }
            }
        }
        best
    }
}

/// Spherical k-means on a sample (deterministic: evenly spaced starting points).
fn kmeans(vectors: &[f32], k: usize) -> Vec<f32> {
    let n = vectors.len() / DIM;
    let sample: Vec<usize> = (0..n.min(50 * k)).map(|i| i * n / n.min(50 * k)).collect();
    let mut centroids: Vec<f32> = (0..k)
        .flat_map(|j| {
            let i = sample[j * sample.len() / k];
            vectors[i * DIM..(i + 1) * DIM].to_vec()
        })
        .collect();
    for _ in 0..8 {
        let mut sums = vec![0f32; k * DIM];
        let mut counts = vec![0usize; k];
        for &i in &sample {
            let v = &vectors[i * DIM..(i + 1) * DIM];
            let c = nearest_centroid(&centroids, v);
            counts[c] += 1;
            for (s, x) in sums[c * DIM..(c + 1) * DIM].iter_mut().zip(v) {
                *s += x;
            }
        }
        for c in 0..k {
            if counts[c] == 0 {
                continue;
            }
            let s = &mut sums[c * DIM..(c + 1) * DIM];
            let norm = s.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
            for (dst, x) in centroids[c * DIM..(c + 1) * DIM].iter_mut().zip(s.iter()) {
                *dst = x / norm;
            }
        }
    }
    centroids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_unit(seed: &mut u64) -> Vec<f32> {
        let mut v: Vec<f32> = (0..DIM)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                (*seed % 2000) as f32 / 1000.0 - 1.0
            })
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
        v
    }

    #[test]
    fn exact_search_finds_itself_first() {
        let mut seed = 42;
        let vectors: Vec<f32> = (0..500).flat_map(|_| random_unit(&mut seed)).collect();
        let index = Index::build(&vectors);
        for i in [0usize, 17, 499] {
            let hits = index.search(&vectors[i * DIM..(i + 1) * DIM], 3);
            assert_eq!(hits[0].id as usize, i);
            assert!(hits[0].similarity > 0.98);
            assert!(hits[0].similarity >= hits[1].similarity);
        }
    }

    #[test]
    fn ivf_finds_near_duplicates() {
        let mut seed = 7;
        let vectors: Vec<f32> = (0..30_000).flat_map(|_| random_unit(&mut seed)).collect();
        let index = Index::build(&vectors);
        assert!(index.offsets.len() > 2, "an IVF, not one list");
        let mut found = 0;
        for i in (0..30_000).step_by(1000) {
            let q = &vectors[i * DIM..(i + 1) * DIM];
            if index.search(q, 1).first().map(|n| n.id as usize) == Some(i) {
                found += 1;
            }
        }
        assert_eq!(found, 30);
    }
}
