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
    'Control spans: runs of |C| consecutive tokens of the same sequence that avoid C and the first token (every run when there are at most `controls`, else a seeded sample); where no run fits, sets of |C| such tokens that need not be consecutive; a control whose query set is empty is dropped. Lift = s / mean control share. Position-matched effect per head: z = (Δ − m) / (σ·√(1 + 1/n + x̄²/Sxx)), where m and σ are the level and spread of the Δ of the 16 nearest controls that share no token with the span, each read off a least-squares line in log position at the span\'s own position (a span at the start of its sentence has all neighbours on one side, where changes are smaller); each control gets its z the same way. Per concept, the effect is the mean z over its sequences; per head, p = (1 + #{|z_chance| ≥ |z|}) / (1 + N), two-sided, where z_chance replaces the concept in every sequence by one of the 20 controls nearest it (every combination when at most `permutations`, else that many seeded draws), and a concept\'s chance mean is scaled by √(sequences) because its sequences share its term and are not independent replicates. A head beats chance when p < alpha.',
  multiplicity:
    'From the same draws, over the heads of one scope and pair: Benjamini–Hochberg q (the report outlines heads with q < alpha); Westfall–Young max-T family-wise p (the share of draws whose largest |z| over heads reaches the head\'s); and the number of heads with p < alpha against its distribution over the draws (expected count and count p), which keeps the dependence between heads.',
  replication:
    'Unit of replication: the sequence for a concept, the concept overall (a concept\'s sequences share its term). 95 % percentile intervals from 1,000 seeded bootstrap resamples of the units for mean Δ, Δ per layer and skewness of Δ over heads; a sign-flip test of the units\' mean Δ over heads, p = #{|flipped mean| ≥ |mean|} / 2^n over every pattern (or (1 + #) / (1 + N) over seeded draws), left out when the smallest possible p (2 / 2^n) is not below alpha.',
  rollout:
    'Attention rollout (Abnar & Zuidema, 2020): Â_l = 0.5·mean_h A_l + 0.5·I (rows renormalised), R_l = Â_l·R_{l−1}; the rollout share after layer l is (1/|Q|) Σ_{i∈Q} Σ_{j∈C} R_l[i][j].',
  aggregation:
    'Per sequence; per concept, the mean over its sequences of legal wording (control paraphrases are measured on their own); overall, the mean over concepts (each concept weighs the same).',
  components: 'Component × component attention M[a][b] = (1/|a|) Σ_{i∈a} Σ_{j∈b} A[i][j], head-averaged, per layer and averaged over layers and over the sequences that have both components.',
  structure:
    'Structure alignment = mean over declared component pairs of M[a][b] + M[b][a] minus the same mean over undeclared pairs (its change per pair of models). Its test is matched on token distance and component size: each pair\'s M[a][b] + M[b][a] in each sequence is regressed on log distance (with its square and 1/distance) and log |a|·|b|, pooled over every structured concept; the statistic is the mean residual on declared pairs minus on the others; the null relabels each concept\'s components (the same relabelling in each of its sequences), p = (1 + #{relabelled ≥ observed}) / (1 + N), every relabelling when at most `permutations`. A concept alone with 3 or 4 components cannot reach alpha (p ≥ 1/6 or 1/24): no p is printed then; the pooled test over all structured concepts can.',
  wording: 'Legal vs plain wording: the mean (over heads) concept share on the legal term minus the share on its plain paraphrase in the control sequence, per model, and its change per pair.',
} as const;
