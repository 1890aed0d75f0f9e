/**
 * The definitions of every measure, as written into summary.json and `--help`: one
 * text, so the numbers and their explanation cannot drift apart.
 */
export const DEFINITIONS = {
  attention:
    'A[i][j]: attention of query token i on key token j for one sequence, model, layer l and head h (rows sum to 1, causal). C: the concept tokens (the union of the spans, or one labelled component). Q: the query set.',
  share: 's(l,h) = (Σ_{i∈Q} Σ_{j∈C} A[i][j]) / (Σ_{i∈Q} Σ_j A[i][j]).',
  querySets:
    'all: every token (the study\'s "proportion of total attention"); after: tokens from the first concept token on; outside: tokens after the first concept token that are not concept tokens.',
  sink: 'include: A as it is. exclude: each row renormalised without the first token (the attention sink), A\'[i][j] = A[i][j] / (1 − A[i][0]) for j ≥ 1, and query 0 dropped.',
  change: 'Δ(l,h) = s_after(l,h) − s_before(l,h) for a pair after:before; relative change Δ / s_before.',
  distribution:
    'Over all layers × heads of Δ: mean, median, sample standard deviation, skewness g1 = m3/m2^1.5 and adjusted G1 = g1·√(n(n−1))/(n−2), excess kurtosis g2 = m4/m2² − 3 and adjusted G2 = ((n+1)g2 + 6)(n−1)/((n−2)(n−3)) (scipy.stats skew/kurtosis with bias=True/False), and the fraction of heads whose share rose.',
  entropy: 'H(l,h) = (1/|Q|) Σ_{i∈Q} −Σ_j A[i][j] ln A[i][j], in nats.',
  chance:
    'Control spans: runs of |C| consecutive tokens of the same sequence that avoid C and the first token (every run when there are at most `controls`, else a seeded sample); where no run fits, sets of |C| such tokens that need not be consecutive. Lift = s / mean control share. A change\'s p-value per head is two-sided: p = (1 + #{|Δ_chance| ≥ |Δ|}) / (1 + N), where Δ_chance is the same mean change with one control span in place of the concept in every sequence (every combination when at most `permutations`, else that many seeded draws). A head beats chance when p < alpha; expect alpha × heads such heads by chance alone.',
  rollout:
    'Attention rollout (Abnar & Zuidema, 2020): Â_l = 0.5·mean_h A_l + 0.5·I (rows renormalised), R_l = Â_l·R_{l−1}; the rollout share after layer l is (1/|Q|) Σ_{i∈Q} Σ_{j∈C} R_l[i][j].',
  aggregation:
    'Per sequence; per concept, the mean over its sequences of legal wording (control paraphrases are measured on their own); overall, the mean over concepts (each concept weighs the same).',
  components: 'Component × component attention M[a][b] = (1/|a|) Σ_{i∈a} Σ_{j∈b} A[i][j], head-averaged, per layer and averaged over layers and over the sequences that have both components.',
  structure:
    'Structure alignment = mean over declared component pairs of M[a][b] + M[b][a] minus the same mean over undeclared pairs; p = #{relabellings of the components with alignment ≥ observed} / N over every relabelling (or 5,040 seeded ones); its change per pair of models.',
  wording: 'Legal vs plain wording: the mean (over heads) concept share on the legal term minus the share on its plain paraphrase in the control sequence, per model, and its change per pair.',
} as const;
