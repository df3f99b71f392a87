"""EM Thm 1: the exact E⟨sin W1x, sin W1x′⟩ vs a Monte Carlo of real random layers, against
the stated bound and the bound the proof supports, as σ grows (x′ = −x: the stated bound
fails once ⟨x, x′⟩ < −log 3/(2σ²), i.e. for σ above 0.74 here)."""

from overparam import compare

bounds, sigmas = (compare.em_thm1, compare.em_thm1_proved), (0.1, 0.3, 0.5, 1.0, 1.5, 2.0)
records = [f([1.0], [-1.0], sigma=s, draws=4000) for f in bounds for s in sigmas]
print(compare.to_markdown(records))
compare.plot(records, x="sigma", path="em_thm1.png")
