#!/usr/bin/env python3
"""Generate the bundled Professor Synapse demo dataset (``synapse_core/demo/prof_synapse.jsonl``).

Deterministic and stdlib-only: every choice comes from ``random.Random(3407)`` and from the
hand-written content fragments below, so running it twice writes byte-identical output.

The rows mimic the reference recipe "Professor Synapse" (a reasoning-style wizard assistant):

* ShareGPT rows: ``{"conversations": [...], "quality_metrics": {...}}`` with the reasoning
  block inline at the start of every ``gpt`` value (some rows start with a ``system`` turn,
  some have two exchanges, about 25 have no ``quality_metrics``);
* OpenAI rows: ``{"messages": [...]}`` with the reasoning in its own ``reasoning`` field of each
  assistant message (most without ``quality_metrics``);
* a few ``{"prompt", "completion", "label"}`` rows and a few plain ``{"text"}`` rows.

Deliberate problems are planted so that filtering, validation and the knowledge graph have
work to do: banned words (and near misses that must not count), weak or malformed reasoning,
biased generalisations, truncated / repetitive / badly formatted answers, spelling variants
of entities, and a handful of contradicting or negated knowledge-graph triplets.

Usage::

    python3 tools/make_demo_data.py            # writes the default path, prints counts
    python3 tools/make_demo_data.py --out x.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter, defaultdict
from pathlib import Path

SEED = 3407
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "synapse_core" / "demo" / "prof_synapse.jsonl"

N_SHAREGPT = 156
N_OPENAI = 152
N_SHAREGPT_NO_METRICS = 25
N_OPENAI_WITH_METRICS = 40
N_SHAREGPT_MULTI = 10
N_OPENAI_MULTI = 5
TARGET_UNDESIRABLE = 0.40          # share of metric rows whose score falls below the threshold
DESIRABLE_THRESHOLD = 1.25         # score = 1.0*cq - 0.5*bias + 0.75*rq
BANNED_RE = re.compile(r"(?i)\b(delve|tapestry|embark|revolutionize|ah)\b")

# --------------------------------------------------------------------------------------------
# Hand-written content. Each topic: a connected pool of knowledge-graph triplets around a few
# hub entities, questions (text, focus, seed entity, indices of the facts that answer it),
# answer facts, symbolic statements (sym, nat), reasoning steps, and follow-up questions.
# --------------------------------------------------------------------------------------------

TOPICS: list[dict] = [
    dict(
        name="physics",
        triples=[
            ("energy", "is conserved in", "closed system"), ("entropy", "increases in", "closed system"),
            ("heat", "transfers", "energy"), ("heat", "flows toward", "cold body"),
            ("work", "transfers", "energy"), ("friction", "converts work into", "heat"),
            ("entropy", "measures", "disorder"), ("temperature", "measures", "kinetic energy"),
            ("kinetic energy", "is a form of", "energy"), ("potential energy", "is a form of", "energy"),
            ("force", "produces", "acceleration"), ("force", "does", "work"),
            ("mass", "resists", "acceleration"), ("momentum", "depends on", "mass"),
        ],
        qs=[
            ("Why does a cup of coffee always cool down instead of heating up?", "why heat flows from hot to cold", "heat", (2, 1)),
            ("What actually is entropy, in plain words?", "the meaning of entropy", "entropy", (1, 2)),
            ("If energy is conserved, why do people talk about an energy crisis?", "energy conservation versus usable energy", "energy", (6, 0)),
            ("Why do I feel pushed back into my seat when a car accelerates?", "inertia and acceleration", "force", (5,)),
            ("Where does the energy go when I brake on my bike?", "friction turning work into heat", "friction", (3, 0)),
        ],
        facts=[
            "Energy is never created or destroyed in a closed system; it only changes form, from motion to heat, from chemical bonds to light.",
            "Entropy counts how many microscopic arrangements fit what we observe, so it tends to grow: disordered states vastly outnumber ordered ones.",
            "Heat flows from a hot body to a cold one simply because that direction overwhelmingly increases the total entropy.",
            "When you brake, friction converts the bike's kinetic energy into heat in the pads and rim, which then leaks into the air.",
            "Temperature measures the average kinetic energy of the particles, not the total energy stored in an object.",
            "Newton's second law says a net force produces an acceleration proportional to the force and inversely proportional to the mass; your body lags behind the seat, so the seat pushes you.",
            "The so-called energy crisis is really a crisis of low-entropy energy: the total stays fixed, but concentrated, useful energy gets used up.",
        ],
        logic=[
            ("∀s (Closed(s) → □(ΔE(s) = 0))", "In every closed system total energy stays constant."),
            ("∀s (Isolated(s) → ΔS(s) ≥ 0)", "The entropy of an isolated system never decreases."),
            ("(m > 0) → (F ≠ 0 ↔ a ≠ 0)", "With positive mass, there is acceleration exactly when a net force acts."),
        ],
        steps=[
            "Separate total energy from usable, low-entropy energy.",
            "Apply the second law: spontaneous processes raise total entropy.",
            "Ground the abstraction in a familiar object such as a coffee cup or a brake pad.",
        ],
        inv=["What would happen to the entropy if the coffee cup were perfectly insulated?",
             "How would you measure the heat produced by your bike brakes?"],
        exp=["How does the idea of entropy show up in information theory?",
             "Why does time seem to have a direction if the basic laws are reversible?"],
        expl=["Can you use the second law to explain why a fridge needs power?",
              "How could you estimate the energy lost to friction on a long downhill ride?"],
    ),
    dict(
        name="biology",
        triples=[
            ("photosynthesis", "produces", "oxygen"), ("photosynthesis", "consumes", "CO2"),
            ("photosynthesis", "produces", "glucose"), ("chloroplast", "performs", "photosynthesis"),
            ("plant cell", "contains", "chloroplast"), ("plant cell", "is a type of", "cell"),
            ("cell", "contains", "mitochondria"), ("mitochondria", "produce", "ATP"),
            ("cellular respiration", "consumes", "glucose"), ("cellular respiration", "produces", "ATP"),
            ("cellular respiration", "requires", "oxygen"), ("DNA", "encodes", "protein"),
            ("cell", "contains", "DNA"), ("ribosome", "synthesizes", "protein"),
            ("enzyme", "is a type of", "protein"),
        ],
        qs=[
            ("How do plants make their own food?", "how photosynthesis works", "photosynthesis", (0, 1)),
            ("Why do we need oxygen to live?", "the role of oxygen in cellular respiration", "oxygen", (1, 6)),
            ("What is ATP and why does every cell care about it?", "ATP as the cell's energy currency", "ATP", (2, 1)),
            ("How does DNA actually turn into a working protein?", "gene expression from DNA to protein", "DNA", (3, 5)),
            ("Are mitochondria really descended from bacteria?", "the endosymbiotic origin of mitochondria", "mitochondria", (4, 2)),
        ],
        facts=[
            "In photosynthesis, chloroplasts use light energy to turn carbon dioxide and water into glucose, releasing oxygen as a by-product.",
            "Cellular respiration runs that story in reverse: mitochondria burn glucose with oxygen and capture the energy as ATP.",
            "ATP works like a rechargeable battery; cells spend it on movement, transport and building molecules, then recharge it.",
            "DNA stores the instructions, messenger RNA carries a copy out, and ribosomes read it three letters at a time to assemble a protein.",
            "Mitochondria have their own small circular DNA and a double membrane, strong evidence that they began as free-living bacteria.",
            "Enzymes are proteins that speed up reactions by lowering the activation energy, without being used up themselves.",
            "Without oxygen as the final electron acceptor, the respiratory chain stalls and ATP output drops to a trickle.",
        ],
        logic=[
            ("Photosynthesis(x) → (Consumes(x, CO2) ∧ Produces(x, O2))", "Photosynthesis consumes carbon dioxide and produces oxygen."),
            ("∃!c (Codon(c) ∧ StandardStart(c))", "There is exactly one standard start codon, AUG."),
            ("∀c (PlantCell(c) → ◇HasChloroplast(c))", "A plant cell can contain chloroplasts, though root cells usually do not."),
        ],
        steps=[
            "Trace the flow of matter: carbon dioxide and water in, glucose and oxygen out.",
            "Link photosynthesis and respiration as two halves of one cycle.",
            "Check the claim against counter-examples such as root cells without chloroplasts.",
        ],
        inv=["Which wavelengths of light does chlorophyll absorb best?",
             "How could you measure the oxygen a pond plant releases in an hour?"],
        exp=["How did the rise of photosynthesis change Earth's early atmosphere?",
             "What do viruses borrow from the cells they infect?"],
        expl=["Can you use the ATP idea to explain why muscles get tired?",
              "How would you design a simple experiment showing that plants need light?"],
    ),
    dict(
        name="history",
        triples=[
            ("printing press", "spread", "literacy"), ("printing press", "accelerated", "Reformation"),
            ("Gutenberg", "invented", "printing press"), ("Renaissance", "revived", "classical learning"),
            ("printing press", "spread", "classical learning"), ("Byzantine scholars", "carried", "classical learning"),
            ("fall of Constantinople", "scattered", "Byzantine scholars"), ("Renaissance", "began in", "Italy"),
            ("Byzantine scholars", "fled to", "Italy"), ("Medici family", "funded", "Renaissance"),
            ("Roman Empire", "split into", "Byzantine Empire"), ("Byzantine Empire", "ended with", "fall of Constantinople"),
            ("Reformation", "challenged", "Catholic Church"), ("Martin Luther", "started", "Reformation"),
            ("literacy", "empowered", "merchant class"),
        ],
        qs=[
            ("Why was the printing press such a big deal?", "the impact of the printing press", "printing press", (0, 5)),
            ("Why did the Renaissance start in Italy and not somewhere else?", "why the Renaissance began in Italy", "Renaissance", (2, 6)),
            ("Did the fall of Constantinople really cause the Renaissance?", "the link between 1453 and the Renaissance", "fall of Constantinople", (3, 6)),
            ("How did Martin Luther's ideas spread so fast?", "the speed of the Reformation", "Reformation", (1, 0)),
            ("Was the Roman Empire really gone after 476?", "the survival of the Eastern Roman Empire", "Roman Empire", (4,)),
        ],
        facts=[
            "Gutenberg's movable type, around 1450, cut the cost of books so sharply that ideas could travel faster than any authority could contain them.",
            "Luther's pamphlets were printed in the hundreds of thousands within a few years, which makes the Reformation arguably the first media campaign.",
            "Italy had rich city-states, banking families like the Medici, and Roman ruins on every corner, an ideal mix for reviving classical learning.",
            "The fall of Constantinople in 1453 sent Byzantine scholars and Greek manuscripts westward, but the Renaissance was already well under way by then.",
            "The Western Roman Empire ended in 476, yet the Eastern half, which we call Byzantine, lasted almost another thousand years.",
            "Rising literacy gave merchants and townspeople a voice that had previously belonged almost entirely to the clergy.",
            "Historians now prefer gradual explanations: many small causes reinforcing each other rather than one decisive event.",
        ],
        logic=[
            ("Printed(x) → (◇Spreads(x) ∧ ¬□Controlled(x))", "A printed idea could spread and was no longer necessarily controllable."),
            ("Precedes(Renaissance, 1453) → ¬SoleCause(1453, Renaissance)", "Since the Renaissance began before 1453, the fall of Constantinople cannot be its sole cause."),
            ("∃x (CityState(x) ∧ Wealthy(x) ∧ In(x, Italy))", "There were wealthy city-states in Italy."),
        ],
        steps=[
            "Put the events on a timeline: 1440s press, 1453 Constantinople, 1517 Luther.",
            "Separate necessary conditions from accelerating factors.",
            "Weigh the single-cause story against the gradual view historians favour.",
        ],
        inv=["What did a printed book cost compared with a hand-copied one in 1470?",
             "Which Greek texts actually arrived in Italy after 1453?"],
        exp=["How does the printing press compare with the internet as a disruptor?",
             "Why did the Reformation succeed in the north but not in Spain?"],
        expl=["Can you use the printing press story to predict how a new technology will spread?",
              "How would you build a timeline that tests the 1453 theory?"],
    ),
    dict(
        name="economics",
        triples=[
            ("central bank", "sets", "interest rate"), ("interest rate", "influences", "borrowing"),
            ("borrowing", "expands", "money supply"), ("money supply", "drives", "inflation"),
            ("inflation", "erodes", "savings"), ("inflation", "decreases", "purchasing power"),
            ("inflation", "raises", "price"), ("demand", "raises", "price"), ("supply", "lowers", "price"),
            ("price", "signals", "scarcity"), ("inflation", "is measured by", "consumer price index"),
            ("unemployment", "trades off with", "inflation"), ("tariff", "raises", "price"),
            ("central bank", "targets", "inflation"),
        ],
        qs=[
            ("Why do prices keep going up every year?", "why inflation persists", "inflation", (0, 5)),
            ("How does raising interest rates fight inflation?", "interest rates as an inflation tool", "interest rate", (1, 2)),
            ("Is a little inflation actually good for the economy?", "the case for moderate inflation", "central bank", (2, 6)),
            ("Why do tariffs make things more expensive at home?", "who pays for tariffs", "tariff", (3, 4)),
            ("What does supply and demand really mean for a price tag?", "price formation by supply and demand", "price", (4,)),
        ],
        facts=[
            "Inflation means your money buys a little less each year; at 3 percent, prices double in roughly 24 years.",
            "When a central bank raises interest rates, borrowing gets more expensive, spending cools, and price pressure eases, usually with a lag of a year or more.",
            "Most central banks target about 2 percent inflation, because mild inflation leaves room to cut rates and avoids the trap of falling prices.",
            "A tariff is a tax on imports, and domestic buyers usually end up paying much of it through higher prices.",
            "Prices are signals: a rising price tells producers that something is scarce and tells buyers to economise.",
            "The consumer price index tracks a basket of goods, so your personal inflation can differ from the headline number.",
            "In the short run there is often a trade-off between unemployment and inflation, though it tends to break down once people expect inflation.",
        ],
        logic=[
            ("Raise(r) → (Lower(borrowing) ∧ ◇Lower(inflation))", "Raising rates lowers borrowing and may lower inflation."),
            ("∀g (Tariff(g) → ◇Raises(DomesticPrice(g)))", "A tariff on a good can raise its domestic price."),
            ("Inflation > 0 → ¬Constant(PurchasingPower)", "Positive inflation means purchasing power is not constant."),
        ],
        steps=[
            "Define inflation as a general rise in prices, not one product getting dearer.",
            "Follow the transmission: rates, then borrowing, then spending, then prices.",
            "Note the time lag and the role of expectations.",
        ],
        inv=["How is the basket in the consumer price index chosen?",
             "What happened to mortgage applications after the last rate rise?"],
        exp=["Why did Japan struggle with falling prices for decades?",
             "How do expectations become self-fulfilling in inflation?"],
        expl=["How should you adjust a savings plan for 3 percent inflation?",
              "Can you estimate what a 10 percent tariff adds to the price of a bicycle?"],
    ),
    dict(
        name="cooking",
        triples=[
            ("Maillard reaction", "browns", "meat"), ("Maillard reaction", "requires", "high heat"),
            ("moisture", "prevents", "Maillard reaction"), ("searing", "triggers", "Maillard reaction"),
            ("salt", "draws out", "moisture"), ("salt", "enhances", "flavor"), ("acid", "balances", "flavor"),
            ("sugar", "caramelizes under", "high heat"), ("gluten", "gives structure to", "bread"),
            ("kneading", "develops", "gluten"), ("yeast", "produces", "CO2"), ("CO2", "leavens", "bread"),
            ("Maillard reaction", "browns", "bread"), ("egg yolk", "stabilizes", "mayonnaise"),
            ("mayonnaise", "needs", "acid"),
        ],
        qs=[
            ("Why does my steak come out grey instead of brown?", "why steak fails to brown", "Maillard reaction", (0, 1)),
            ("Should I salt meat right before cooking or much earlier?", "the timing of salting meat", "salt", (2, 6)),
            ("Why does bread dough need kneading?", "the role of kneading", "gluten", (3,)),
            ("Why does my mayonnaise keep splitting?", "why emulsions break", "mayonnaise", (4, 6)),
            ("What is the difference between caramelisation and browning?", "caramelisation versus the Maillard reaction", "sugar", (5, 0)),
        ],
        facts=[
            "Browning is the Maillard reaction, and it only gets going above roughly 140 °C; a wet surface stays stuck near 100 °C until the water boils off.",
            "Pat the steak dry and use a properly hot pan; crowding the pan releases steam, and you end up poaching instead of searing.",
            "Salt draws moisture out at first, but after about 40 minutes the brine is reabsorbed, so salt either immediately or well ahead, not ten minutes before.",
            "Kneading lines up gluten proteins into elastic sheets that trap the carbon dioxide produced by the yeast.",
            "Mayonnaise is an emulsion of oil droplets in a little water; lecithin in the egg yolk holds it together, and adding oil too fast overwhelms it.",
            "Caramelisation is sugar alone breaking down under heat, while the Maillard reaction needs both sugars and amino acids.",
            "A splash of acid, such as lemon juice or vinegar, brightens flavour much as salt does, and the two balance each other.",
        ],
        logic=[
            ("Browns(x) → (Dry(x) ∧ Temp(x) > 140)", "If a surface browns, it is dry and above about 140 °C."),
            ("Wet(x) → (¬Browns(x) ∨ Evaporated(x))", "A wet surface does not brown unless its water has evaporated."),
            ("Splits(mayo) ↔ (OilRate > EmulsifierCapacity)", "Mayonnaise splits exactly when oil arrives faster than the emulsifier can handle."),
        ],
        steps=[
            "Identify the chemistry involved: Maillard reaction, caramelisation, or an emulsion.",
            "Find the variable the cook controls: moisture, temperature, or timing.",
            "Turn the chemistry into one concrete kitchen instruction.",
        ],
        inv=["What temperature does your pan reach before the steak goes in?",
             "How long did you rest the dough before shaping it?"],
        exp=["Why does a pinch of baking soda speed up browning onions?",
             "How do professional kitchens use dry-brining?"],
        expl=["Can you sear two steaks, one patted dry and one wet, and compare?",
              "How would you rescue a split mayonnaise with a fresh yolk?"],
    ),
    dict(
        name="programming",
        triples=[
            ("recursion", "requires", "base case"), ("recursion", "uses", "call stack"),
            ("call stack", "stores", "stack frame"), ("deep recursion", "causes", "stack overflow"),
            ("stack overflow", "occurs in", "call stack"), ("function", "creates", "stack frame"),
            ("memoization", "speeds up", "recursion"), ("memoization", "caches", "function result"),
            ("function", "returns", "function result"), ("Python", "limits", "recursion depth"),
            ("recursion depth", "bounds", "recursion"), ("iteration", "can replace", "recursion"),
            ("unit test", "verifies", "function"), ("generator", "saves", "memory"),
            ("Python", "supports", "generator"),
        ],
        qs=[
            ("What is recursion, and why does my recursive function crash?", "recursion and stack overflow", "recursion", (0, 1)),
            ("When should I use recursion instead of a loop?", "recursion versus iteration", "iteration", (4, 0)),
            ("What is memoization and when does it help?", "memoization", "memoization", (3,)),
            ("Why does Python complain about maximum recursion depth?", "Python's recursion limit", "Python", (2, 1)),
            ("How do generators save memory in Python?", "how generators work", "generator", (5,)),
        ],
        facts=[
            "A recursive function solves a problem by calling itself on a smaller piece, and it needs a base case that stops the descent.",
            "Each call pushes a stack frame holding its local variables; forget the base case and the frames pile up until the stack overflows.",
            "CPython caps recursion depth at about 1000 frames by default, precisely so it fails loudly instead of crashing the interpreter.",
            "Memoization caches results keyed by the arguments, so a naive exponential Fibonacci becomes linear with one decorator, functools.lru_cache.",
            "Any recursion can be rewritten as a loop with an explicit stack; recursion reads better for trees, loops are safer for long linear chains.",
            "A generator yields one value at a time and then pauses, so iterating over a billion numbers needs only a few bytes of state.",
            "A small unit test for the base case and one recursive case catches most recursion bugs before they reach production.",
        ],
        logic=[
            ("Terminates(f) → ∃b (BaseCase(b, f) ∧ Reached(b))", "A recursive function terminates only if some base case is eventually reached."),
            ("Depth(f) > Limit → ⊥", "Going past the recursion limit ends in failure, a RecursionError."),
            ("Pure(f) → (Result(memo(f)) ↔ Result(f))", "For a pure function, the memoized version returns the same results."),
        ],
        steps=[
            "Check whether the function has a reachable base case.",
            "Estimate the maximum depth against the interpreter's limit.",
            "Decide between memoization, iteration, or an explicit stack.",
        ],
        inv=["What input makes your function recurse deepest?",
             "Does your function mutate any shared state between calls?"],
        exp=["How do functional languages avoid stack overflow with tail calls?",
             "How does dynamic programming relate to memoization?"],
        expl=["Can you rewrite your recursive tree walk with an explicit stack?",
              "Would adding functools.lru_cache fix your slow Fibonacci right now?"],
    ),
    dict(
        name="music",
        triples=[
            ("pitch", "depends on", "frequency"), ("octave", "doubles", "frequency"),
            ("major scale", "contains", "seven notes"), ("chord", "builds", "harmony"),
            ("major chord", "is built from", "major scale"), ("major chord", "is a type of", "chord"),
            ("minor chord", "is a type of", "chord"), ("consonance", "arises from", "simple frequency ratio"),
            ("perfect fifth", "has", "simple frequency ratio"), ("equal temperament", "divides", "octave"),
            ("harmony", "combines", "pitch"), ("harmony", "depends on", "consonance"),
            ("chord", "contains", "perfect fifth"), ("music", "combines", "harmony"),
            ("music", "combines", "rhythm"), ("music", "releases", "dopamine"),
        ],
        qs=[
            ("Why do some chords sound happy and others sad?", "major versus minor chords", "chord", (2, 6)),
            ("Why does an octave sound like the same note?", "octave equivalence", "octave", (0,)),
            ("Why does music give me chills?", "music and the brain's reward system", "music", (4, 5)),
            ("What is equal temperament and why do pianos use it?", "equal temperament", "equal temperament", (3, 1)),
            ("Why does a perfect fifth sound so stable?", "the consonance of the perfect fifth", "perfect fifth", (1, 0)),
        ],
        facts=[
            "An octave doubles the frequency, so the two waves line up every cycle and the brain hears them as versions of one note.",
            "A perfect fifth has a 3:2 frequency ratio; simple ratios produce few clashing overtones, which we hear as consonance.",
            "Major and minor chords differ by a single note, the third, and the sad feel of minor is partly learned from culture rather than purely physical.",
            "Equal temperament splits the octave into twelve equal steps so a piano can play in every key, at the cost of fifths that are very slightly out of tune.",
            "Musical chills come with dopamine release in the striatum, often just before an anticipated peak arrives.",
            "Rhythm organises sound in time, and a steady tempo lets the brain predict the next beat, which is half of what makes a groove feel good.",
            "Harmony is what happens when pitches sound together, and its tension and release drive the sense of a musical story.",
        ],
        logic=[
            ("Octave(a, b) ↔ f(b) = 2·f(a)", "Two notes are an octave apart exactly when one frequency is double the other."),
            ("Consonant(i) → SimpleRatio(i)", "Consonant intervals have simple frequency ratios."),
            ("Minor(c) → (◇Sad(c) ∧ ¬□Sad(c))", "A minor chord can sound sad but does not necessarily do so."),
        ],
        steps=[
            "Translate the musical question into frequency ratios.",
            "Separate the physics of sound from learned cultural associations.",
            "Give a listening example the user can check at an instrument.",
        ],
        inv=["Can you hear the beating when two guitar strings are slightly out of tune?",
             "Which song gives you chills, and at exactly what moment?"],
        exp=["How do non-Western scales divide the octave differently?",
             "Why did Bach care so much about tuning systems?"],
        expl=["Can you play a major and a minor chord back to back and describe the difference?",
              "How would you use a tuner app to find a 3:2 ratio?"],
    ),
    dict(
        name="astronomy",
        triples=[
            ("gravity", "forms", "star"), ("star", "fuses", "hydrogen"), ("hydrogen", "fuses into", "helium"),
            ("massive star", "collapses into", "black hole"), ("massive star", "is a type of", "star"),
            ("black hole", "traps", "light"), ("gravity", "bends", "light"),
            ("supernova", "scatters", "heavy elements"), ("massive star", "ends in", "supernova"),
            ("Sun", "is a type of", "star"), ("Earth", "orbits", "Sun"), ("gravity", "holds together", "galaxy"),
            ("dark matter", "dominates", "galaxy"), ("galaxy", "shows", "redshift"),
            ("redshift", "reveals", "expanding universe"),
        ],
        qs=[
            ("How do stars actually shine?", "how stars produce energy", "star", (0, 5)),
            ("What happens inside a black hole?", "what black holes are", "black hole", (1, 6)),
            ("Where did the gold in my ring come from?", "the cosmic origin of heavy elements", "supernova", (2,)),
            ("How do we know the universe is expanding?", "the evidence for cosmic expansion", "redshift", (3,)),
            ("What is dark matter, if nobody has ever seen it?", "the evidence for dark matter", "dark matter", (4, 6)),
        ],
        facts=[
            "Stars shine because gravity squeezes their cores hot enough to fuse hydrogen into helium, releasing energy according to E = mc².",
            "A black hole is a region where gravity is so strong that not even light can escape once it crosses the event horizon.",
            "Elements heavier than iron, like gold, form in violent events such as supernovae and neutron-star mergers, then get scattered into space.",
            "Distant galaxies show redshifted light, and the farther away they are, the larger the shift: the signature of an expanding universe.",
            "Galaxies spin so fast at their edges that visible matter alone could not hold them together; something unseen, dark matter, adds the missing gravity.",
            "Our Sun is a middle-aged, ordinary star, about halfway through its ten-billion-year hydrogen-burning life.",
            "Gravity bends light, so massive galaxy clusters act as lenses that magnify even more distant objects behind them.",
        ],
        logic=[
            ("∀x (Inside(x, horizon) → ¬◇Escapes(x))", "Nothing inside the event horizon can possibly escape."),
            ("∀g (Redshift(g) ∝ Distance(g)) → Expanding(universe)", "Redshift growing with distance implies an expanding universe."),
            ("∃x DarkMatter(x) ∨ ¬Valid(GR, galactic_scale)", "Either dark matter exists or our theory of gravity fails at galactic scales."),
        ],
        steps=[
            "Start from gravity as the organising force.",
            "Follow the life cycle of a star from collapse to fusion to death.",
            "Distinguish the observed evidence from the inferred explanation.",
        ],
        inv=["What does the spectrum of the Sun tell us about its composition?",
             "How was the first image of a black hole actually assembled?"],
        exp=["Could modified gravity replace dark matter?",
             "What will happen to the Sun in five billion years?"],
        expl=["Can you use a sky app to find a bright star and look up its colour and temperature?",
              "How would you estimate a galaxy's distance from its redshift?"],
    ),
    dict(
        name="medicine",
        triples=[
            ("vaccine", "trains", "immune system"), ("immune system", "produces", "antibodies"),
            ("antibodies", "neutralize", "virus"), ("antibiotic", "kills", "bacteria"),
            ("antibiotic", "is ineffective against", "virus"), ("overuse of antibiotics", "drives", "antibiotic resistance"),
            ("bacteria", "develop", "antibiotic resistance"), ("immune system", "triggers", "fever"),
            ("immune system", "causes", "inflammation"), ("inflammation", "signals", "infection"),
            ("virus", "causes", "infection"), ("bacteria", "cause", "infection"),
            ("immune system", "destroys", "beta cells"), ("beta cells", "produce", "insulin"),
            ("insulin", "regulates", "glucose"),
        ],
        qs=[
            ("Why won't my doctor give me antibiotics for a cold?", "antibiotics and viral infections", "antibiotic", (0, 6)),
            ("How do vaccines actually work?", "how vaccines train immunity", "vaccine", (1, 5)),
            ("Is a fever bad, or is it helping me?", "the purpose of fever", "fever", (2, 6)),
            ("What is antibiotic resistance and why is everyone worried about it?", "antibiotic resistance", "antibiotic resistance", (3, 0)),
            ("What goes wrong in type 1 diabetes?", "autoimmunity in type 1 diabetes", "beta cells", (4, 6)),
        ],
        facts=[
            "Colds are caused by viruses, and antibiotics target bacterial machinery, such as cell walls, that viruses simply do not have.",
            "A vaccine shows the immune system a harmless preview of a pathogen, so memory cells are ready to produce antibodies quickly if the real thing appears.",
            "A moderate fever is part of the defence: higher temperature slows many pathogens and speeds up some immune responses.",
            "Every unnecessary antibiotic course gives resistant bacteria a chance to outcompete their neighbours, which is how resistance spreads.",
            "In type 1 diabetes the immune system mistakenly destroys the beta cells that make insulin, so blood glucose can no longer be regulated.",
            "Inflammation, with its redness, swelling and heat, is the immune system calling reinforcements to a site of infection.",
            "None of this replaces a doctor's advice; a persistent high fever or trouble breathing needs prompt medical attention.",
        ],
        logic=[
            ("Viral(i) → ¬Effective(antibiotic, i)", "For a viral infection, antibiotics are not effective."),
            ("Vaccinated(p) → (◇Infected(p) ∧ ¬□Severe(p))", "A vaccinated person may still be infected but will not necessarily become severely ill."),
            ("Overuse(a) → ◇Resistance(a)", "Overusing an antibiotic makes resistance to it possible."),
        ],
        steps=[
            "Identify the pathogen type: virus or bacterium.",
            "Match the treatment's mechanism to the pathogen.",
            "Add a safety note recommending professional care when needed.",
        ],
        inv=["Was your last infection confirmed as bacterial by a test?",
             "How long did your fever last, and how high did it go?"],
        exp=["How do mRNA vaccines differ from traditional ones?",
             "Could bacteriophages replace antibiotics one day?"],
        expl=["Can you check your vaccination record for boosters you might be due?",
              "How would you explain to a friend why leftover antibiotics should not be shared?"],
    ),
    dict(
        name="law",
        triples=[
            ("contract", "requires", "offer"), ("contract", "requires", "acceptance"),
            ("contract", "requires", "consideration"), ("breach", "violates", "contract"),
            ("court", "enforces", "contract"), ("court", "awards", "damages"), ("breach", "triggers", "damages"),
            ("constitution", "limits", "government"), ("supreme court", "interprets", "constitution"),
            ("supreme court", "is a type of", "court"), ("precedent", "binds", "lower court"),
            ("lower court", "is a type of", "court"), ("burden of proof", "rests on", "prosecution"),
            ("prosecution", "brings cases to", "court"), ("presumption of innocence", "protects", "defendant"),
            ("defendant", "appears before", "court"),
        ],
        qs=[
            ("Is a verbal agreement a real contract?", "whether oral contracts are binding", "contract", (0, 1)),
            ("What happens if someone breaks a contract with me?", "remedies for breach of contract", "breach", (2, 6)),
            ("Why are judges bound by old cases?", "the doctrine of precedent", "precedent", (3,)),
            ("What does innocent until proven guilty actually mean in court?", "the presumption of innocence", "burden of proof", (4,)),
            ("How can a court strike down a law?", "judicial review", "constitution", (5, 6)),
        ],
        facts=[
            "In many legal systems an oral agreement can be a binding contract if it has offer, acceptance and consideration, though proving its terms is harder.",
            "Some contracts, such as sales of land, must be in writing in most jurisdictions, so always check the local rules.",
            "When a contract is breached, courts usually award damages meant to put you where you would have been had the promise been kept.",
            "Precedent means lower courts follow the earlier decisions of higher courts, which makes the law predictable.",
            "The burden of proof rests on the prosecution; the defendant does not have to prove innocence.",
            "Courts with constitutional review can set aside laws that conflict with the constitution, which limits what governments may do.",
            "This is general information, not legal advice; a local lawyer can tell you how it applies to your situation.",
        ],
        logic=[
            ("Contract(c) ↔ (Offer(c) ∧ Acceptance(c) ∧ Consideration(c))", "A contract exists exactly when there is offer, acceptance and consideration."),
            ("¬Proven(guilt(d)) → Acquitted(d)", "If guilt is not proven, the defendant is acquitted."),
            ("Conflicts(l, constitution) → ◇Invalid(l)", "A law that conflicts with the constitution may be declared invalid."),
        ],
        steps=[
            "Identify the area of law: contract, criminal, or constitutional.",
            "List the required elements and check each one against the facts.",
            "Flag jurisdictional variation and recommend professional advice.",
        ],
        inv=["Do you have any messages or witnesses that record the agreed terms?",
             "Which jurisdiction's law governs your agreement?"],
        exp=["How do civil-law systems treat precedent differently from common law?",
             "Why do some countries have no judicial review at all?"],
        expl=["Can you draft a one-page summary of the deal with offer, acceptance and price?",
              "How would you calculate the damages you actually lost?"],
    ),
    dict(
        name="climate",
        triples=[
            ("CO2", "traps", "heat"), ("CO2", "warms", "atmosphere"), ("greenhouse effect", "warms", "Earth"),
            ("CO2", "strengthens", "greenhouse effect"), ("fossil fuels", "release", "CO2"),
            ("ocean", "absorbs", "CO2"), ("ocean", "absorbs", "heat"), ("CO2", "acidifies", "ocean"),
            ("melting ice", "reduces", "albedo"), ("albedo", "reflects", "sunlight"),
            ("warming", "causes", "melting ice"), ("methane", "strengthens", "greenhouse effect"),
            ("water vapour", "amplifies", "warming"), ("greenhouse effect", "drives", "warming"),
        ],
        qs=[
            ("How can a gas that's only 0.04 percent of the air warm the whole planet?", "how trace CO2 causes warming", "CO2", (0, 1)),
            ("Why does melting ice speed up warming?", "the ice-albedo feedback", "melting ice", (2, 5)),
            ("What does the ocean have to do with climate change?", "the ocean's role in climate", "ocean", (3,)),
            ("Is methane worse than CO2?", "methane versus CO2", "methane", (4, 0)),
            ("If CO2 is plant food, why is more of it a problem?", "why extra CO2 is harmful despite plant growth", "greenhouse effect", (6, 1)),
        ],
        facts=[
            "CO2 is transparent to incoming sunlight but absorbs outgoing infrared, so even a trace amount changes how easily Earth sheds heat.",
            "Its concentration has risen from about 280 to over 420 parts per million since pre-industrial times, mostly from burning fossil fuels.",
            "Ice reflects most sunlight; when it melts, the darker ocean or land beneath absorbs more, which causes more melting, a classic feedback loop.",
            "The ocean has absorbed over 90 percent of the extra heat and about a quarter of our CO2 emissions, which is also making seawater more acidic.",
            "Methane traps far more heat per molecule than CO2 but breaks down within about a decade, while CO2 lingers for centuries.",
            "Warmer air holds more water vapour, itself a greenhouse gas, so it amplifies warming that CO2 started.",
            "Plants do benefit from some extra CO2, but heat stress, drought and shifting rainfall outweigh that gain for most crops.",
        ],
        logic=[
            ("Increase(CO2) → (MoreAbsorbed(IR) ∧ ◇Increase(T))", "More CO2 means more infrared absorbed and likely a higher temperature."),
            ("Melt(ice) → Lower(albedo) → Increase(T) → Melt(ice)", "Melting lowers albedo, which raises temperature, which melts more ice: a feedback loop."),
            ("(Helps(CO2, plants) ∧ Harms(warming, crops)) → ¬NetBenefit", "CO2 helps plants a little, but warming harms crops more, so there is no net benefit."),
        ],
        steps=[
            "Separate the radiative physics from the feedbacks.",
            "Quantify with concentrations and time scales.",
            "Address the common plant-food objection directly.",
        ],
        inv=["What does the Keeling curve look like over the last decade?",
             "How much has Arctic sea ice shrunk since 1980?"],
        exp=["How did ancient climates respond to high CO2 levels?",
             "Could we ever pull CO2 back out of the air at scale?"],
        expl=["Can you estimate your household's yearly CO2 emissions from your energy bills?",
              "Which single change would cut your own emissions the most?"],
    ),
    dict(
        name="linguistics",
        triples=[
            ("language", "changes over", "time"), ("grammar", "governs", "sentence"),
            ("phoneme", "distinguishes", "meaning"), ("language", "has", "grammar"),
            ("language", "uses", "phoneme"), ("children", "acquire", "language"),
            ("critical period", "constrains", "language acquisition"), ("children", "undergo", "language acquisition"),
            ("Latin", "evolved into", "Romance languages"), ("Latin", "is a type of", "language"),
            ("Romance languages", "belong to", "Indo-European family"), ("word order", "is part of", "grammar"),
            ("morpheme", "carries", "meaning"), ("language", "transmits", "information"),
            ("Zipf's law", "describes", "word frequency"), ("word frequency", "shapes", "language"),
        ],
        qs=[
            ("Why is it so much harder to learn a language as an adult?", "the critical period for language", "critical period", (0, 6)),
            ("How did Latin turn into French, Spanish and Italian?", "the evolution of the Romance languages", "Latin", (1, 6)),
            ("What's the difference between a phoneme and a letter?", "phonemes versus letters", "phoneme", (2, 5)),
            ("Why are the most common words always so short?", "Zipf's law and word length", "Zipf's law", (3,)),
            ("Do all languages have grammar?", "the universality of grammar", "grammar", (4, 5)),
        ],
        facts=[
            "Children absorb the sound system of a language effortlessly before puberty; adults can still learn very well but rarely lose their accent entirely.",
            "Spoken Latin drifted differently in each region after Rome fell, and over centuries those dialects became French, Spanish, Italian, Portuguese and Romanian.",
            "A phoneme is a sound that changes meaning, like /p/ versus /b/ in pat and bat; letters are only one imperfect way of writing them down.",
            "Zipf's law says a word's frequency is roughly inversely proportional to its rank, and frequent words tend to be short because speakers economise effort.",
            "Every known human language has grammar, rules for combining sounds into words and words into sentences, including languages that were never written down.",
            "Morphemes are the smallest units of meaning: unhappiness has three of them, un-, happy and -ness.",
            "Languages change constantly; today's error is often tomorrow's standard form.",
        ],
        logic=[
            ("∀l (HumanLanguage(l) → HasGrammar(l))", "Every human language has a grammar."),
            ("(Phoneme(a) ∧ Phoneme(b) ∧ a ≠ b) → ∃w ∃v MinimalPair(w, v, a, b)", "Two distinct phonemes are distinguished by at least one minimal pair."),
            ("Adult(x) → (◇Fluent(x) ∧ ¬□NativeAccent(x))", "An adult can become fluent but will not necessarily acquire a native accent."),
        ],
        steps=[
            "Separate the spoken language from its writing system.",
            "Use historical evidence or acquisition research as support.",
            "Give a concrete minimal pair or word example.",
        ],
        inv=["Which sounds in your target language are hardest for you to hear?",
             "Can you find a minimal pair in your own language?"],
        exp=["Why did English lose most of its case endings?",
             "How do sign languages fit into these rules?"],
        expl=["Can you plan ten minutes a day of listening practice with minimal pairs?",
              "How would you test Zipf's law on a page of your favourite book?"],
    ),
    dict(
        name="chess",
        triples=[
            ("opening", "aims to control", "centre"), ("pawn", "controls", "centre"), ("knight", "controls", "centre"),
            ("castling", "improves", "king safety"), ("opening", "includes", "castling"),
            ("opening", "prioritizes", "development"), ("development", "activates", "pieces"),
            ("tactics", "punish", "weak squares"), ("weak squares", "undermine", "king safety"),
            ("endgame", "rewards", "active king"), ("pattern recognition", "guides", "tactics"),
            ("fork", "is a kind of", "tactics"), ("bishop pair", "dominates", "open position"),
            ("pawn structure", "shapes", "endgame"), ("pawn", "forms", "pawn structure"),
            ("pawn structure", "determines", "open position"),
        ],
        qs=[
            ("What should I focus on in the first ten moves?", "opening principles", "opening", (0,)),
            ("Why do coaches tell me to castle early?", "castling and king safety", "castling", (1, 0)),
            ("How do grandmasters see tactics so quickly?", "pattern recognition in chess", "pattern recognition", (2, 6)),
            ("Are two bishops really better than bishop and knight?", "the bishop pair", "bishop pair", (3, 5)),
            ("Why does the king suddenly become a strong piece in the endgame?", "the active king in endgames", "endgame", (4, 5)),
        ],
        facts=[
            "In the opening, fight for the centre with pawns and pieces, develop knights and bishops quickly, and avoid moving the same piece twice without a reason.",
            "Castling tucks the king behind pawns and connects the rooks; an uncastled king in an open centre is a tactical target.",
            "Grandmasters have stored tens of thousands of patterns, so they recognise a fork or a pin the way you recognise a friend's face.",
            "The bishop pair is usually worth about half a pawn extra in open positions, where long diagonals let both bishops shine.",
            "With the queens off the board, mating threats fade, so the king becomes a fighting piece that should march toward the centre.",
            "Pawn structure is the skeleton of a position; it decides where the pieces belong and what the endgame will look like.",
            "Solving a few tactical puzzles every day is the fastest way to build your own pattern library.",
        ],
        logic=[
            ("(Open(centre) ∧ ¬Castled(K)) → ◇Attacked(K)", "With an open centre and an uncastled king, the king may come under attack."),
            ("QueensOff → (Active(K) → Advantage)", "Once the queens are off, an active king confers an advantage."),
            ("Fork(n, a, b) → (Loses(a) ∨ Loses(b))", "A fork forces the loss of one of the two attacked pieces."),
        ],
        steps=[
            "Recall the three opening principles: centre, development, king safety.",
            "Consider how the answer changes between opening and endgame.",
            "Suggest a concrete training habit.",
        ],
        inv=["In your last lost game, when did your king first come under attack?",
             "How many moves does it take you to castle, on average?"],
        exp=["Why do some openings deliberately give up the centre early?",
             "How did engines change opening theory?"],
        expl=["Can you play five games focusing only on castling before move ten?",
              "How about ten fork puzzles a day for a week?"],
    ),
    dict(
        name="psychology",
        triples=[
            ("sleep", "consolidates", "memory"), ("spaced repetition", "strengthens", "memory"),
            ("stress", "impairs", "memory"), ("stress", "impairs", "judgment"),
            ("dopamine", "signals", "reward prediction"), ("habit", "forms through", "repetition"),
            ("spaced repetition", "is a form of", "repetition"), ("reward", "reinforces", "habit"),
            ("reward", "releases", "dopamine"), ("cue", "triggers", "habit"),
            ("confirmation bias", "distorts", "judgment"), ("pattern recognition", "relies on", "memory"),
            ("attention", "gates", "memory"), ("multitasking", "divides", "attention"),
            ("anxiety", "narrows", "attention"),
        ],
        qs=[
            ("Why do I forget what I studied the night before an exam?", "cramming versus spaced study", "memory", (0, 1)),
            ("How are habits formed, and how can I break a bad one?", "habit formation", "habit", (2,)),
            ("Is dopamine really the pleasure chemical?", "what dopamine actually does", "dopamine", (3,)),
            ("Why do I only notice the evidence that agrees with me?", "confirmation bias", "confirmation bias", (4, 6)),
            ("Can I really multitask while studying?", "the cost of multitasking", "multitasking", (5,)),
        ],
        facts=[
            "Cramming fills short-term memory, but without sleep and spaced review most of it fades within days.",
            "Spaced repetition works because retrieving a memory just as it starts to fade strengthens it far more than rereading does.",
            "Habits run on a loop of cue, routine and reward; swapping the routine while keeping the cue and the reward is easier than deleting the habit.",
            "Dopamine is less about pleasure itself and more about predicting reward; it spikes when things turn out better than expected.",
            "Confirmation bias leads us to seek and remember evidence that fits our beliefs, so deliberately looking for disconfirming evidence is a useful habit.",
            "What feels like multitasking is rapid switching, and every switch costs attention and increases errors.",
            "Moderate stress can sharpen focus, but chronic stress impairs both memory and judgment.",
        ],
        logic=[
            ("(Spaced(s) ∧ Retrieved(s)) → Stronger(memory(s))", "Spaced retrieval strengthens a memory."),
            ("(Cue(c) ∧ Routine(r) ∧ Reward(w)) → ◇Habit(c, r)", "A cue, a routine and a reward together can form a habit."),
            ("BetterThanExpected(r) → Spike(dopamine)", "Dopamine spikes when a reward beats expectations."),
        ],
        steps=[
            "Identify the cognitive mechanism behind the everyday experience.",
            "State the relevant research finding in plain language.",
            "Translate it into a habit or strategy the user can test.",
        ],
        inv=["When during the day do you reach for your phone without thinking?",
             "How many hours did you sleep before your last exam?"],
        exp=["How do habits differ from addictions in the brain?",
             "Why do smart people fall for confirmation bias just as often?"],
        expl=["Can you set up a spaced repetition deck for your next exam?",
              "Could you swap one cue-driven habit for a better routine this week?"],
    ),
    dict(
        name="geology",
        triples=[
            ("plate tectonics", "causes", "earthquakes"), ("plate tectonics", "builds", "mountains"),
            ("subduction", "generates", "magma"), ("plate tectonics", "drives", "subduction"),
            ("magma", "forms", "igneous rock"), ("erosion", "produces", "sediment"),
            ("sediment", "forms", "sedimentary rock"), ("heat and pressure", "create", "metamorphic rock"),
            ("rock cycle", "includes", "igneous rock"), ("rock cycle", "includes", "sedimentary rock"),
            ("rock cycle", "includes", "metamorphic rock"), ("volcano", "erupts", "magma"),
            ("mantle convection", "drives", "plate tectonics"), ("fossils", "are found in", "sedimentary rock"),
            ("erosion", "wears down", "mountains"),
        ],
        qs=[
            ("Why do earthquakes happen in some places and not others?", "where earthquakes occur", "earthquakes", (0, 5)),
            ("How do mountains form?", "mountain building", "mountains", (1, 6)),
            ("Why are fossils found only in certain rocks?", "fossils and sedimentary rock", "fossils", (3, 4)),
            ("Where does magma come from?", "the origin of magma", "magma", (2,)),
            ("What is the rock cycle?", "the rock cycle", "rock cycle", (4, 6)),
        ],
        facts=[
            "Earth's outer shell is broken into plates that move a few centimetres a year, and most earthquakes cluster along their boundaries.",
            "When plates collide, the crust crumples and thickens; the Himalayas are still rising as India pushes into Asia.",
            "At subduction zones the sinking plate releases water that lowers the melting point of the mantle above it, producing magma.",
            "Fossils form when organisms are buried quickly in sediment, which is why they turn up in sedimentary rock and almost never in granite.",
            "The rock cycle links everything: magma cools into igneous rock, erosion turns rock into sediment, and heat and pressure forge metamorphic rock.",
            "Plates are driven by mantle convection and by the pull of dense slabs sinking at subduction zones.",
            "Geological time is vast: a process moving at fingernail speed can open an ocean in a hundred million years.",
        ],
        logic=[
            ("Boundary(x) → ◇Earthquake(x)", "Earthquakes can occur at plate boundaries."),
            ("(Fossil(f) ∧ In(f, r)) → (Sedimentary(r) ∨ Metamorphic(r))", "A rock containing a fossil is sedimentary, or occasionally metamorphic."),
            ("∀r (Rock(r) → ◇Becomes(r, sediment))", "Any rock can eventually become sediment."),
        ],
        steps=[
            "Locate the process on a map of plate boundaries.",
            "Connect the surface feature to what happens in the mantle.",
            "Emphasise the time scales involved.",
        ],
        inv=["Which plate boundary is closest to where you live?",
             "What kind of rock is your local building stone?"],
        exp=["How did Wegener's continental drift idea finally become accepted?",
             "Why are there earthquakes far from plate boundaries?"],
        expl=["Can you look up a recent earthquake map and trace the plate boundaries on it?",
              "How would you recognise a sedimentary rock on a hike?"],
    ),
    dict(
        name="statistics",
        triples=[
            ("sample size", "reduces", "standard error"), ("random sample", "represents", "population"),
            ("correlation", "measures", "association"), ("confounder", "creates", "spurious correlation"),
            ("spurious correlation", "is a type of", "correlation"), ("correlation", "is estimated from", "random sample"),
            ("p-value", "measures evidence against", "null hypothesis"), ("p-value", "depends on", "sample size"),
            ("p-value", "is a", "probability"), ("entropy", "measures", "uncertainty"),
            ("probability", "quantifies", "uncertainty"), ("Bayes' theorem", "updates", "probability"),
            ("prior", "feeds into", "Bayes' theorem"), ("law of large numbers", "stabilizes", "sample mean"),
            ("standard error", "measures precision of", "sample mean"), ("random sample", "yields", "sample mean"), ("information", "reduces", "uncertainty"),
        ],
        qs=[
            ("Why doesn't correlation prove causation?", "correlation versus causation", "correlation", (0, 5)),
            ("What does a p-value actually tell me?", "the meaning of p-values", "p-value", (1,)),
            ("How big does my sample need to be?", "sample size and precision", "sample size", (2, 6)),
            ("Can you explain Bayes' theorem with an everyday example?", "Bayes' theorem", "Bayes' theorem", (3,)),
            ("What does entropy mean in statistics?", "entropy as uncertainty", "entropy", (4,)),
        ],
        facts=[
            "Ice cream sales and drownings rise together because summer heat drives both; the heat is a confounder, not a hidden link between them.",
            "A p-value is the probability of seeing data at least this extreme if the null hypothesis were true, not the probability that the hypothesis is true.",
            "The standard error shrinks with the square root of the sample size, so quadrupling your sample only halves your uncertainty.",
            "Bayes' theorem tells you how to update a prior belief with new evidence: a positive test for a rare disease can still leave the disease unlikely.",
            "Shannon entropy measures average surprise: a fair coin carries one bit of entropy, a two-headed coin carries none.",
            "A random sample protects against selection bias far better than a huge but self-selected one.",
            "The law of large numbers guarantees that sample averages settle down, but it says nothing about how fast.",
        ],
        logic=[
            ("(Corr(x, y) ∧ ∃z (Causes(z, x) ∧ Causes(z, y))) → ¬□Causes(x, y)", "If a confounder drives both variables, their correlation does not establish causation."),
            ("P(H|E) = P(E|H)·P(H) / P(E)", "Bayes' theorem: the posterior equals likelihood times prior, divided by the evidence."),
            ("SE = σ/√n → (n′ = 4n → SE′ = SE/2)", "Quadrupling the sample halves the standard error."),
            ("Reject(H₀) ⊕ Retain(H₀)", "A test either rejects or retains the null hypothesis, never both."),
        ],
        steps=[
            "Restate the question in terms of what the data can and cannot show.",
            "Work through a small numerical example.",
            "Warn about the most common misinterpretation.",
        ],
        inv=["How was the sample in your study actually selected?",
             "What is the base rate of the condition you are testing for?"],
        exp=["How does entropy in statistics relate to entropy in physics?",
             "Why are many scientists moving away from fixed significance thresholds?"],
        expl=["Can you compute the posterior for a 99 percent accurate test on a 1-in-1000 disease?",
              "How large a sample do you need for a margin of error of 3 points?"],
    ),
    dict(
        name="philosophy",
        triples=[
            ("knowledge", "requires", "justification"), ("knowledge", "requires", "truth"),
            ("knowledge", "requires", "belief"), ("Gettier cases", "challenge", "justified true belief"),
            ("justified true belief", "defines", "knowledge"), ("determinism", "threatens", "free will"),
            ("compatibilism", "reconciles", "free will"), ("compatibilism", "accepts", "determinism"),
            ("free will", "grounds", "moral responsibility"), ("utilitarianism", "maximizes", "wellbeing"),
            ("deontology", "prioritizes", "duty"), ("ethics", "includes", "utilitarianism"),
            ("ethics", "includes", "deontology"), ("moral responsibility", "is central to", "ethics"),
            ("skepticism", "questions", "knowledge"), ("moral responsibility", "requires", "knowledge"),
        ],
        qs=[
            ("What does it actually mean to know something?", "the definition of knowledge", "knowledge", (0, 6)),
            ("If everything is determined, do we have free will?", "free will and determinism", "free will", (2, 5)),
            ("What's the difference between utilitarianism and deontology?", "utilitarianism versus deontology", "ethics", (3,)),
            ("Can I ever be certain of anything?", "philosophical skepticism", "skepticism", (4, 6)),
            ("What is a Gettier case?", "Gettier problems", "Gettier cases", (1, 0)),
        ],
        facts=[
            "The classic analysis says knowledge is justified true belief: you believe it, it is true, and you have good reason for it.",
            "Gettier described cases where all three conditions hold by luck, like a stopped clock that happens to show the right time, yet we hesitate to call it knowledge.",
            "Compatibilists argue that free will means acting from your own reasons without coercion, which can hold even in a deterministic world.",
            "Utilitarians judge actions by their consequences for overall wellbeing, while deontologists hold that some duties bind us regardless of outcome.",
            "Descartes found one certainty in doubt itself: whoever is doubting must exist.",
            "Moral responsibility seems to require some form of control, which is why the free will debate matters outside the seminar room.",
            "Philosophy rarely ends in a final answer, but it sharpens the question until you can see exactly where you disagree.",
        ],
        logic=[
            ("K(p) → (B(p) ∧ p ∧ J(p))", "If one knows p, then one believes p, p is true, and one is justified."),
            ("(B(p) ∧ p ∧ J(p) ∧ Lucky(J)) → ¬K(p)", "A justified true belief that is true only by luck is not knowledge."),
            ("(Determined(a) ∧ Compatibilism) → ◇Free(a)", "Under compatibilism, a determined action can still be free."),
        ],
        steps=[
            "Clarify the key term before arguing about it.",
            "Present the strongest version of each competing view.",
            "Test each view against a counter-example.",
        ],
        inv=["Can you think of a time you were right, but only by luck?",
             "What would count as coercion in your own decisions?"],
        exp=["How would a virtue ethicist answer the same dilemma?",
             "Does neuroscience settle the free will debate?"],
        expl=["Can you apply both utilitarian and deontological reasoning to a decision you face this week?",
              "How would you construct your own Gettier case?"],
    ),
    dict(
        name="architecture",
        triples=[
            ("arch", "transfers", "load"), ("arch", "exerts", "outward thrust"),
            ("flying buttress", "counteracts", "outward thrust"), ("Gothic cathedral", "uses", "flying buttress"),
            ("Gothic cathedral", "uses", "pointed arch"), ("pointed arch", "is a type of", "arch"),
            ("Gothic cathedral", "features", "stained glass"), ("Roman concrete", "enabled", "dome"),
            ("dome", "transfers", "load"), ("Pantheon", "features", "dome"), ("steel frame", "enabled", "skyscraper"),
            ("skyscraper", "resists", "wind load"), ("wind load", "is a type of", "load"),
            ("Brunelleschi", "built", "dome"), ("Renaissance", "inspired", "Brunelleschi"),
        ],
        qs=[
            ("How do Gothic cathedrals have such thin walls and huge windows?", "Gothic structural engineering", "Gothic cathedral", (1, 2)),
            ("Why are arches so strong?", "how arches carry load", "arch", (0, 1)),
            ("How has the Pantheon's dome stood for almost 2000 years?", "the Pantheon dome", "Pantheon", (3,)),
            ("What made skyscrapers possible?", "the invention of the skyscraper", "skyscraper", (4, 6)),
            ("How did Brunelleschi build the dome in Florence without scaffolding from the ground?", "Brunelleschi's dome", "Brunelleschi", (5,)),
        ],
        facts=[
            "An arch turns the downward weight of masonry into compression along its curve, and stone is superb in compression.",
            "Every arch also pushes outward at its base; Gothic builders caught that thrust with flying buttresses standing outside the walls.",
            "Because the buttresses carried the loads, the walls could be opened up for vast stained-glass windows.",
            "The Pantheon's dome uses Roman concrete with lighter pumice aggregate near the top and an open oculus that removes the heaviest part.",
            "Steel frames and the safety elevator in the late 1800s let buildings rise beyond what load-bearing masonry could support.",
            "Brunelleschi used a herringbone brick pattern and a double shell so the dome of Florence Cathedral could support itself as it rose.",
            "Tall buildings worry less about their own weight than about wind load, which is why they sway and some carry tuned mass dampers.",
        ],
        logic=[
            ("Arch(a) → (Compression(a) ∧ ∃t OutwardThrust(a, t))", "An arch works in compression and produces outward thrust."),
            ("(OutwardThrust(t) ∧ ¬Resisted(t)) → ◇Collapse", "Unresisted outward thrust may lead to collapse."),
            ("(Masonry(w) ∧ Height(w) > h₀) → ⊥", "Beyond a certain height, pure load-bearing masonry becomes impossible."),
        ],
        steps=[
            "Trace how the load travels from roof to ground.",
            "Find where the thrust goes and what resists it.",
            "Link the structural trick to the visible design.",
        ],
        inv=["Can you spot the flying buttresses in a photo of Notre-Dame?",
             "How thick are the walls at the base of the Pantheon?"],
        exp=["How did Islamic architects use pointed arches before Gothic Europe?",
             "Why did reinforced concrete change twentieth-century design?"],
        expl=["Can you build a small arch from books and test where it fails?",
              "How would you sketch the load path in your own house?"],
    ),
    dict(
        name="nutrition",
        triples=[
            ("carbohydrates", "break down into", "glucose"), ("insulin", "regulates", "glucose"),
            ("fibre", "slows absorption of", "glucose"), ("fibre", "feeds", "gut bacteria"),
            ("fibre", "increases", "satiety"), ("protein", "supports", "muscle repair"),
            ("protein", "increases", "satiety"), ("caffeine", "increases", "alertness"),
            ("caffeine", "blocks", "adenosine"), ("adenosine", "promotes", "sleepiness"),
            ("sugar", "is a source of", "glucose"), ("metabolism", "burns", "glucose"),
            ("caffeine", "raises", "metabolism"), ("whole grains", "contain", "fibre"),
            ("ultra-processed food", "lacks", "fibre"), ("vitamin D", "supports", "bone health"),
            ("protein", "supports", "bone health"),
        ],
        qs=[
            ("Does sugar really make kids hyperactive?", "sugar and hyperactivity", "sugar", (0, 6)),
            ("Why does coffee keep me awake?", "how caffeine works", "caffeine", (1,)),
            ("Why is fibre so important?", "the role of fibre", "fibre", (2, 5)),
            ("How much protein do I actually need?", "protein requirements", "protein", (3, 6)),
            ("Are carbs bad for you?", "carbohydrates in a healthy diet", "carbohydrates", (4, 5)),
        ],
        facts=[
            "Controlled double-blind studies have found no reliable effect of sugar on children's behaviour; the party setting is the more likely culprit.",
            "Caffeine blocks adenosine receptors; adenosine builds up during the day and signals sleepiness, so caffeine hides that signal for a few hours.",
            "Fibre slows the absorption of glucose, keeps you full for longer and feeds the gut bacteria that make useful short-chain fatty acids.",
            "Most adults need roughly 0.8 grams of protein per kilogram of body weight, more if they train hard or are older.",
            "Carbohydrates are the body's preferred fuel; the difference between whole grains and sugary drinks lies in the fibre and the speed of absorption.",
            "Ultra-processed foods often lack fibre and are easy to overeat, which matters more than any single nutrient.",
            "Individual needs vary, so for conditions like diabetes a registered dietitian is the right person to ask.",
        ],
        logic=[
            ("Caffeine(x) → Blocks(x, adenosine) → ◇Alert", "Caffeine blocks adenosine, which can increase alertness."),
            ("HighFibre(m) → SlowerRise(glucose, m)", "A high-fibre meal produces a slower rise in blood glucose."),
            ("¬∃s (DoubleBlind(s) ∧ Shows(s, Sugar → Hyperactive))", "No double-blind study shows that sugar causes hyperactivity."),
        ],
        steps=[
            "Separate popular belief from controlled evidence.",
            "Explain the physiological mechanism.",
            "Give a practical, moderate recommendation.",
        ],
        inv=["How many cups of coffee do you drink, and how late in the day?",
             "How much fibre is in your usual breakfast?"],
        exp=["How does the gut microbiome influence mood?",
             "Why do protein needs rise with age?"],
        expl=["Could you stop caffeine after noon for a week and track your sleep?",
              "Can you swap one refined-grain meal a day for a whole-grain one?"],
    ),
    dict(
        name="networking",
        triples=[
            ("TCP", "guarantees", "reliable delivery"), ("TCP", "uses", "three-way handshake"),
            ("UDP", "sacrifices", "reliable delivery"), ("packet", "carries", "data"),
            ("router", "forwards", "packet"), ("router", "reads", "IP address"),
            ("DNS", "translates", "domain name"), ("DNS", "returns", "IP address"),
            ("TCP", "retransmits", "lost packet"), ("lost packet", "is a type of", "packet"),
            ("latency", "delays", "three-way handshake"), ("congestion", "causes", "lost packet"),
            ("congestion", "reduces", "throughput"), ("bandwidth", "limits", "throughput"),
            ("packet", "transmits", "information"), ("TLS", "encrypts", "data"), ("UDP", "suits", "video calls"),
        ],
        qs=[
            ("What's the difference between TCP and UDP?", "TCP versus UDP", "TCP", (0, 1)),
            ("What happens when I type a web address into my browser?", "the path of a web request", "DNS", (2, 3)),
            ("Why is my video call choppy even with fast internet?", "latency, jitter and packet loss", "congestion", (4, 6)),
            ("What does DNS actually do?", "the role of DNS", "domain name", (2, 3)),
            ("How does HTTPS keep my data private?", "TLS encryption", "TLS", (5,)),
        ],
        facts=[
            "TCP sets up a connection with a three-way handshake, numbers every segment and retransmits anything lost, so data arrives complete and in order.",
            "UDP skips all that bookkeeping, which is why live video and games prefer it: a late packet is useless anyway.",
            "When you type an address, DNS first translates the domain name into an IP address, and then your browser opens a connection to that server.",
            "Routers read the destination IP address of each packet and forward it hop by hop, like sorting offices in a postal system.",
            "Choppy calls usually come from latency spikes and packet loss rather than bandwidth; a congested Wi-Fi channel is a common cause.",
            "HTTPS wraps HTTP in TLS, which encrypts the data and verifies the server's certificate, so eavesdroppers see only gibberish.",
            "Bandwidth is the width of the pipe and latency its length; a wide pipe can still be slow to respond.",
        ],
        logic=[
            ("(Lost(p) ∧ TCP(p)) → Retransmitted(p)", "A lost TCP packet is retransmitted."),
            ("Reliable(proto) ↔ (Acks(proto) ∧ Retransmits(proto))", "A protocol is reliable exactly when it acknowledges and retransmits."),
            ("(p | q) ↔ ¬(p ∧ q)", "Router hardware is built from NAND gates: p NAND q is true unless both inputs are true."),
            ("∀s (Socket(s) → (UsesTCP(s) ⊕ UsesUDP(s)))", "Every socket uses either TCP or UDP, never both."),
        ],
        steps=[
            "Identify the network layer the question belongs to.",
            "Walk through the sequence of messages one by one.",
            "Relate the protocol trade-off to what the user experiences.",
        ],
        inv=["What does a ping test show for latency on your connection?",
             "Is your laptop on 2.4 GHz or 5 GHz Wi-Fi?"],
        exp=["How does QUIC combine the strengths of TCP and UDP?",
             "How was the internet designed to route around failures?"],
        expl=["Can you run traceroute to a website and count the hops?",
              "Would a wired Ethernet cable fix your call quality?"],
    ),
    dict(
        name="chemistry",
        triples=[
            ("electron", "forms", "chemical bond"), ("covalent bond", "shares", "electron"),
            ("ionic bond", "transfers", "electron"), ("covalent bond", "is a type of", "chemical bond"),
            ("ionic bond", "is a type of", "chemical bond"), ("catalyst", "lowers", "activation energy"),
            ("activation energy", "limits", "reaction rate"), ("temperature", "increases", "reaction rate"),
            ("reaction", "rearranges", "chemical bond"), ("reaction", "has", "reaction rate"),
            ("acid", "donates", "proton"), ("base", "accepts", "proton"), ("pH", "measures", "acidity"),
            ("acid", "lowers", "pH"), ("neutralization", "is a type of", "reaction"),
            ("neutralization", "combines", "acid"), ("salt", "is held together by", "ionic bond"),
        ],
        qs=[
            ("Why does salt dissolve in water but oil doesn't?", "solubility and polarity", "salt", (1, 0)),
            ("What's the difference between ionic and covalent bonds?", "ionic versus covalent bonds", "chemical bond", (0, 6)),
            ("How do catalysts speed up reactions without being used up?", "how catalysts work", "catalyst", (2, 4)),
            ("What does pH actually measure?", "the pH scale", "pH", (3, 5)),
            ("Why do reactions go faster when it's hot?", "temperature and reaction rate", "reaction rate", (4, 2)),
        ],
        facts=[
            "In an ionic bond one atom hands electrons to another, as sodium does to chlorine; in a covalent bond atoms share pairs of electrons.",
            "Water is polar, so it surrounds and pulls apart charged ions like those in salt, while nonpolar oil offers nothing for water to grab.",
            "A catalyst offers an alternative reaction pathway with a lower activation energy, and it comes out of the reaction unchanged.",
            "pH is the negative logarithm of the hydrogen ion concentration, so each step on the scale is a tenfold change in acidity.",
            "Heating gives molecules more kinetic energy, so more collisions clear the activation barrier; a 10 °C rise often roughly doubles the rate.",
            "Acids donate protons and bases accept them; when they meet, neutralisation produces water and a salt.",
            "Oxidation is the loss of electrons and reduction is their gain, and the two always happen together.",
        ],
        logic=[
            ("(Polar(solvent) ∧ Ionic(solute)) → ◇Dissolves(solute, solvent)", "A polar solvent can dissolve an ionic solute."),
            ("Catalyst(c) → (Lowers(c, Ea) ∧ Unchanged(c))", "A catalyst lowers the activation energy and is itself unchanged."),
            ("pH(a) = pH(b) − 1 ↔ [H⁺](a) = 10·[H⁺](b)", "One pH unit lower means ten times more hydrogen ions."),
        ],
        steps=[
            "Describe what happens to the electrons.",
            "Connect the molecular picture to the effect you can see.",
            "Give a kitchen-scale example.",
        ],
        inv=["What happens if you add a drop of dish soap to oil and water?",
             "What pH does your tap water have?"],
        exp=["How do enzymes act as biological catalysts?",
             "Why are the noble gases so unreactive?"],
        expl=["Can you time how fast a sugar cube dissolves in cold versus hot water?",
              "How would you test household liquids with a red cabbage indicator?"],
    ),
    dict(
        name="ecology",
        triples=[
            ("biodiversity", "stabilizes", "ecosystem"), ("deforestation", "decreases", "biodiversity"),
            ("keystone species", "regulates", "ecosystem"), ("wolves", "are a", "keystone species"),
            ("wolves", "control", "elk population"), ("elk population", "grazes", "riverbank vegetation"),
            ("food web", "connects", "ecosystem"), ("predator", "belongs to", "food web"),
            ("wolves", "are a type of", "predator"), ("decomposers", "recycle", "nutrients"),
            ("nutrients", "sustain", "ecosystem"), ("invasive species", "reduces", "biodiversity"),
            ("pollinators", "support", "biodiversity"), ("pesticides", "harm", "pollinators"),
            ("forest", "absorbs", "CO2"), ("deforestation", "destroys", "forest"),
        ],
        qs=[
            ("What happened when wolves returned to Yellowstone?", "the Yellowstone wolf reintroduction", "wolves", (0, 6)),
            ("Why does biodiversity matter if a few species disappear?", "the value of biodiversity", "biodiversity", (2, 5)),
            ("What is a keystone species?", "keystone species", "keystone species", (1, 0)),
            ("Why are bees so important?", "pollinators in ecosystems", "pollinators", (3,)),
            ("How does cutting down forests affect the climate and wildlife?", "the effects of deforestation", "deforestation", (4, 2)),
        ],
        facts=[
            "Wolves returned to Yellowstone in 1995, thinned and redistributed the elk herds, and let streamside willows and aspens recover in some areas.",
            "A keystone species has an effect far larger than its numbers suggest; remove it and the whole ecosystem reorganises.",
            "Diverse ecosystems are more stable because if one species falters, others can fill its role, much like a diversified investment portfolio.",
            "Pollinators support about three quarters of the leading food crops, and pesticides and habitat loss are driving many of them down.",
            "Deforestation destroys habitat and reduces biodiversity, and it also releases the CO2 that the forest had stored.",
            "Decomposers like fungi and bacteria recycle nutrients; without them, ecosystems would be buried in their own leftovers.",
            "Ecological effects cascade in surprising ways, which is why scientists are cautious about simple stories.",
        ],
        logic=[
            ("(Keystone(s) ∧ Removed(s)) → ◇Collapse(ecosystem)", "Removing a keystone species can collapse the ecosystem."),
            ("Diversity(e₁) > Diversity(e₂) → ◇(Stability(e₁) > Stability(e₂))", "A more diverse ecosystem is likely to be the more stable one."),
            ("Deforest(f) → (Releases(f, CO2) ∧ Loses(f, habitat))", "Deforestation releases CO2 and destroys habitat."),
        ],
        steps=[
            "Map the food-web links relevant to the question.",
            "Trace the cascade from one species to the rest.",
            "Note where the evidence is still debated.",
        ],
        inv=["Which pollinators visit the flowers on your street?",
             "How did elk numbers change in Yellowstone after 1995?"],
        exp=["Are there keystone species in the ocean, such as sea otters?",
             "Can rewilding work in crowded places like Europe?"],
        expl=["Could you plant native flowers on a balcony to support pollinators?",
              "How would you count insect diversity in a local park?"],
    ),
    dict(
        name="mathematics",
        triples=[
            ("prime number", "has exactly two", "divisors"), ("Euclid", "proved infinitude of", "prime number"),
            ("Euclid", "used", "proof by contradiction"), ("proof by contradiction", "is a type of", "proof"),
            ("induction", "is a type of", "proof"), ("proof", "establishes", "theorem"),
            ("theorem", "relies on", "axiom"), ("derivative", "measures", "rate of change"),
            ("integral", "reverses", "derivative"), ("function", "has", "derivative"),
            ("limit", "defines", "derivative"), ("fundamental theorem of calculus", "links", "integral"),
            ("fundamental theorem of calculus", "is a", "theorem"), ("prime number", "is studied by", "number theory"),
            ("set theory", "underlies", "number theory"), ("probability", "is built on", "set theory"),
        ],
        qs=[
            ("Why are there infinitely many prime numbers?", "Euclid's proof of infinitely many primes", "prime number", (0, 3)),
            ("What is a derivative, intuitively?", "the intuition behind derivatives", "derivative", (1, 4)),
            ("How does proof by induction work?", "mathematical induction", "induction", (2, 5)),
            ("Why is 1 not a prime number?", "why 1 is not prime", "divisors", (3,)),
            ("What does the fundamental theorem of calculus say?", "the fundamental theorem of calculus", "fundamental theorem of calculus", (4, 1)),
        ],
        facts=[
            "Euclid's argument: suppose there are finitely many primes, multiply them all and add one; the result has a prime factor missing from the list, a contradiction.",
            "A derivative is the instantaneous rate of change, the slope of a curve when you zoom in so far that it looks straight.",
            "Induction works like dominoes: prove the first case, prove that each case topples the next, and every natural number follows.",
            "A prime has exactly two distinct divisors; 1 has only one, and leaving it out keeps prime factorisation unique.",
            "The fundamental theorem of calculus says integration and differentiation undo each other, linking areas to slopes.",
            "Every theorem rests on axioms and earlier theorems, which is what makes mathematical knowledge cumulative.",
            "Even the logical connectives reduce to one: NAND alone can express every other Boolean operation.",
        ],
        logic=[
            ("¬∃n ∀p (Prime(p) → p ≤ n)", "There is no largest prime."),
            ("(P(0) ∧ ∀k (P(k) → P(k+1))) → ∀n P(n)", "If P holds for 0 and passes from each k to k+1, it holds for every n."),
            ("(p ↓ q) ↔ ¬(p ∨ q)", "NOR is true exactly when both inputs are false, and like NAND (p | q) it is functionally complete."),
            ("(p ∨ ¬p) ↔ ⊤", "Classical proofs by contradiction rely on excluded middle: p or not p is always true."),
        ],
        steps=[
            "State the claim precisely in symbols.",
            "Pick the proof strategy: direct, contradiction, or induction.",
            "Check the edge cases, n = 0 and n = 1, explicitly.",
        ],
        inv=["Can you check Euclid's construction for the first five primes?",
             "What is the slope of y = x² at x = 3?"],
        exp=["Are there infinitely many twin primes?",
             "How did Newton and Leibniz think about infinitesimals differently?"],
        expl=["Can you prove 1 + 2 + … + n = n(n+1)/2 by induction?",
              "How would you use a derivative to find the best price for a lemonade stand?"],
    ),
    dict(
        name="art history",
        triples=[
            ("Renaissance", "developed", "linear perspective"), ("Brunelleschi", "demonstrated", "linear perspective"),
            ("linear perspective", "uses", "vanishing point"), ("Leonardo da Vinci", "used", "sfumato"),
            ("Leonardo da Vinci", "painted", "Mona Lisa"), ("Leonardo da Vinci", "worked in", "Renaissance"),
            ("Medici family", "funded", "Renaissance"), ("oil paint", "enabled", "sfumato"),
            ("Impressionism", "captured", "light"), ("Monet", "led", "Impressionism"),
            ("photography", "influenced", "Impressionism"), ("photography", "challenged", "realism"),
            ("Impressionism", "rejected", "academic painting"), ("academic painting", "favoured", "realism"), ("academic painting", "taught", "linear perspective"),
            ("Cubism", "abandoned", "linear perspective"), ("Picasso", "co-founded", "Cubism"),
        ],
        qs=[
            ("Why do Renaissance paintings look so much more real than medieval ones?", "the rise of linear perspective", "linear perspective", (0, 1)),
            ("What made the Impressionists so controversial?", "the Impressionist break", "Impressionism", (3, 4)),
            ("How did Leonardo get that smoky look in the Mona Lisa?", "sfumato", "Leonardo da Vinci", (2,)),
            ("Did photography kill realistic painting?", "photography's impact on painting", "photography", (4, 3)),
            ("Why did Picasso paint faces from several angles at once?", "Cubism", "Cubism", (5, 0)),
        ],
        facts=[
            "Brunelleschi demonstrated linear perspective around 1415, and painters quickly adopted its vanishing point to make flat walls open into deep space.",
            "Medieval painters were not failing at realism; they prioritised symbolic meaning, sizing figures by importance rather than by distance.",
            "Leonardo built up dozens of translucent oil glazes to create sfumato, soft transitions without hard outlines.",
            "The Impressionists painted outdoors in quick, broken strokes to catch changing light, which critics dismissed as unfinished sketches.",
            "Photography freed painters from the duty of exact record-keeping, nudging them toward colour, light and subjective vision.",
            "Cubism, led by Picasso and Braque, showed several viewpoints at once, rejecting the single fixed eye of Renaissance perspective.",
            "Patrons like the Medici funded artists as a display of power and piety, which shaped what got painted.",
        ],
        logic=[
            ("Perspective(p) → ∃v (VanishingPoint(v) ∧ Converge(lines(p), v))", "In linear perspective, parallel lines converge at a vanishing point."),
            ("Photography → (¬Necessary(realistic_painting) ∧ ◇Experiment)", "Photography made realistic painting unnecessary and experiment possible."),
            ("Medieval(w) → (Symbolic(w) ∨ ¬Naturalistic(w))", "A medieval work is symbolic or not aiming at naturalism."),
        ],
        steps=[
            "Place the work in its historical context.",
            "Identify the technique and the problem it solved.",
            "Avoid judging earlier art by later standards.",
        ],
        inv=["Can you find the vanishing point in Raphael's School of Athens?",
             "Which Monet painting did the critics mock most?"],
        exp=["How did Japanese woodblock prints influence Impressionism?",
             "Why did abstract art emerge so soon after Cubism?"],
        expl=["Can you sketch your street using one-point perspective?",
              "How would you organise a mini gallery walk through five centuries online?"],
    ),
    dict(
        name="sports science",
        triples=[
            ("strength training", "builds", "muscle"), ("protein", "supports", "muscle repair"),
            ("muscle repair", "requires", "recovery"), ("muscle repair", "rebuilds", "muscle"), ("sleep", "accelerates", "recovery"),
            ("endurance training", "raises", "VO2 max"), ("VO2 max", "predicts", "endurance performance"),
            ("exercise", "lowers", "resting heart rate"), ("endurance training", "is a form of", "exercise"),
            ("strength training", "is a form of", "exercise"), ("lactate threshold", "limits", "endurance performance"),
            ("overtraining", "impairs", "recovery"), ("warm-up", "reduces", "injury risk"),
            ("warm-up", "prepares", "muscle"), ("muscle", "stores", "glycogen"),
            ("muscle", "raises", "metabolism"), ("progressive overload", "stimulates", "muscle"),
        ],
        qs=[
            ("How do muscles actually get stronger?", "how muscles adapt to training", "muscle", (0, 5)),
            ("What is VO2 max and can I improve it?", "VO2 max", "VO2 max", (1,)),
            ("Why does my resting heart rate drop as I get fitter?", "resting heart rate and fitness", "resting heart rate", (2,)),
            ("Do I really need rest days?", "the role of recovery", "recovery", (3, 6)),
            ("Is stretching before a run actually useful?", "warming up before exercise", "warm-up", (4,)),
        ],
        facts=[
            "Strength training creates mechanical tension and small amounts of muscle damage; during recovery the body rebuilds the fibres thicker and stronger.",
            "VO2 max is the highest rate at which your body can use oxygen; endurance training raises it, often by 10 to 20 percent in beginners.",
            "Training enlarges the heart's left ventricle, so each beat pumps more blood and the resting heart rate falls.",
            "Adaptation happens during rest, not during the workout itself; skipping recovery invites overtraining and injury.",
            "Dynamic warm-ups like leg swings and easy jogging prepare the muscles better than long static stretches before a run.",
            "Progressive overload, gradually increasing weight, volume or intensity, is the core principle behind continued gains.",
            "Sleep is the cheapest performance enhancer: growth hormone release peaks during deep sleep.",
        ],
        logic=[
            ("(Train(x) ∧ Recover(x)) → Adapt(x)", "Training plus recovery leads to adaptation."),
            ("(Train(x) ∧ ¬Recover(x)) → ◇Overtrained(x)", "Training without recovery can lead to overtraining."),
            ("EnduranceTrained(x) → Lower(RestingHR(x))", "Endurance training lowers the resting heart rate."),
        ],
        steps=[
            "Identify the physiological system involved.",
            "Explain the training stimulus and the adaptation it causes.",
            "Translate that into a concrete training recommendation.",
        ],
        inv=["What is your resting heart rate first thing in the morning?",
             "How many hard sessions did you do last week?"],
        exp=["Why do elite cyclists train at altitude?",
             "How much does genetics limit VO2 max?"],
        expl=["Can you plan a four-week progressive overload block?",
              "Would adding a dynamic warm-up before your runs change how they feel?"],
    ),
]
TOPIC_BY_NAME = {t["name"]: t for t in TOPICS}

# --------------------------------------------------------------------------------------------
# Generic fragments (persona, question framing, reasoning scaffolding)
# --------------------------------------------------------------------------------------------

SYSTEM_PROMPTS = [
    "You are Professor Synapse 🧙, a friendly wizard. Reason inside <reasoning> tags, answer in character, "
    "then ask Investigate, Explore and Exploit questions.",
    "Act as Professor Synapse, a wizard mentor: think step by step in <reasoning>, answer starting with 🧙, "
    "end with three follow-ups.",
    "Professor Synapse 🧙, conductor of expert reasoning. Think inside <reasoning> tags, answer warmly and "
    "accurately, then offer three next questions.",
    "You are Professor Synapse. Be accurate, humble about uncertainty and free of stereotypes. Reason in "
    "<reasoning> tags first; prefix answers with 🧙.",
]
OPENERS = [
    "A splendid question, and one worth untangling slowly.",
    "Come, pull up a stool by the fire; this one rewards patience.",
    "Let us trace this idea back to its roots.",
    "Excellent, you have found one of my favourite puzzles.",
    "Hmm, let me consult my well-thumbed notes.",
    "Good question! The short version is simpler than it looks.",
    "Well met, curious mind.",
    "Ooh, now that is a question with layers.",
    "Gather round; this is a classic.",
    "Splendid. Let me sweep the cobwebs off this one.",
    "What a lovely thing to wonder about.",
    "Right then, wand at the ready.",
]
CLOSERS = [
    "Like any good spell, it sticks best once you try it yourself.",
    "That, in a nutshell, is the whole trick.",
    "Hold on to that thread; it leads to deeper rooms of the library.",
    "Every great scholar began with exactly this kind of question.",
    "Keep that picture in mind and the details will fall into place.",
    "The rest is practice, patience and a little curiosity.",
    "Once you see it this way, you will notice it everywhere.",
    "Not magic after all, just careful reasoning.",
]
LINK_SENTENCES = [
    "The key link to remember: {a} → {b}.",
    "If you keep one chain in mind, make it {a} → {b}.",
    "Notice how {a} and {b} keep turning up together.",
]
Q_PREFIXES = ["", "", "", "", "Professor, ", "Hi! ", "Quick question: ", "I've always wondered: ",
              "My teacher mentioned this today. ", "Professor Synapse, ", "Maybe a silly question, but: "]
Q_SUFFIXES = [("", None), ("", None), ("", None), (" I'm a complete beginner.", "beginner"),
              (" Please keep it simple.", "beginner"), (" Can you give an example?", None),
              (" I need this for an exam.", "student"), (" Explain it like I'm twelve.", "twelve-year-old"),
              (" A short answer is fine.", None),
              (" I work near this field but never really got it.", "professional")]
LEVELS = ["beginner", "student", "curious adult", "hobbyist", "professional", "high-school student"]
TEMPLATE_QS = [
    ("How does {a} relate to {b}?", "how {a} relates to {b}"),
    ("What is the connection between {a} and {b}?", "the connection between {a} and {b}"),
    ("Can you explain the link between {a} and {b} in {topic}?", "the link between {a} and {b}"),
]
GOALS = ["Explain {focus}", "Help the user understand {focus}", "Answer: {focus}"]
SUBGOALS = ["Show how {a} {p} {b}", "Link {a} to {b}", "Give an example of {a}", "Fix a misconception about {a}"]
DONES = ["Parsed question", "Domain: {topic}", "Recalled core facts", "Checked assumptions"]
NOWS = ["Linking {a} to {b}", "Choosing an analogy", "Structuring", "Drafting follow-ups"]
CTXS = ["level={level}; topic={topic}", "{level}, {topic}, turn {n}", "turn={n}; domain={topic}",
        "{level} wants a practical answer"]
STEP_TEMPLATES = [
    "Recall: {a} {p} {b}.",
    "Tie {b} back to the question.",
    "Test '{a} {p} {b}' on a counter-example.",
    "Pick an everyday analogy for {a}.",
    "Aim the follow-ups at {b}.",
]
EXTRA_TEMPLATES = {
    "reflect": ["The explanation holds together; the weakest link is {b}.",
                "Did I answer what was asked? Yes: the link {a} → {b} addresses it.",
                "The analogy may oversimplify {a}, but it suits the user's level."],
    "cont": ["Next, connect {b} to the follow-up questions.", "Continue with a concrete example involving {a}."],
    "err": ["Initially conflated {a} with {b}; corrected.", "An earlier draft overstated the certainty; softened the claim."],
    "note": ["User seems to be a {level}; keep jargon light.", "Mention a common misconception about {a}."],
    "warn": ["Do not present this as more settled than the evidence allows.", "Avoid overclaiming about {b}."],
    "verb": ["Warm, wizardly tone; two short paragraphs.", "Concise; end with investigate, explore and exploit questions.",
             "Use one analogy, no more."],
}
ADVICE_TOPICS = {"medicine", "law", "nutrition"}
PROOF_TEMPLATES = {
    "path": ("{F1} ∧ {F2} ∴ ◇Affects({a}, {c})", "{A} {p} {b}, which {q} {c}, so {a} can affect {c}."),
    "subj": ("{F1} ∧ {F2} ∴ ∃x ({P}(x, {b}) ∧ {Q}(x, {c}))", "{A} both {p} {b} and {q} {c}."),
    "obj": ("{F1} ∧ {F2} ∴ ∃y ({P}({a}, y) ∧ {Q}({b}, y))", "{A} and {b} both act on {c}."),
    "single": ("{F1} ↔ ⊤", "Take '{a} {p} {b}' as established."),
}
CRIT_TEMPLATES = [
    ("¬□{F}", "Not a necessary truth; it depends on conditions."),
    ("{F} ∧ ¬Complete(model)", "True, but it leaves part of the picture out."),
    ("∃c ¬Holds(c, {F})", "In some contexts the link from {a} to {b} breaks down."),
]
DOUBT_TEMPLATES = [
    ("◇¬{F}", "The link to {b} may be weaker than it looks."),
    ("◇∃z (Confounder(z) ∧ Affects(z, {b}))", "Another factor might also affect {b}."),
    ("?{F}", "Is the evidence that {a} {p} {b} strong enough?"),
    ("◇¬∃!x Causes(x, {b})", "{A} may not be the only thing behind {b}."),
]
INV_TEMPLATE = "What evidence would convince you that {a} really {p} {b}?"
EXP_TEMPLATE = "How might {a} connect to ideas outside {topic}?"
EXPL_TEMPLATE = "Where could you put what you know about {a} to use this week?"

# Spelling / case / number variants so that entity normalisation has work to do.
VARIANTS = {
    "oxygen": ["Oxygen", "oxygens"], "CO2": ["co2", "Co2"], "DNA": ["dna"], "ATP": ["atp"],
    "glucose": ["Glucose"], "entropy": ["Entropy"], "energy": ["Energy"], "star": ["stars", "Star"],
    "vaccine": ["vaccines", "Vaccine"], "antibiotic": ["antibiotics"], "bacteria": ["Bacteria"],
    "tactics": ["tactic"], "pawn": ["pawns"], "Renaissance": ["renaissance", "the Renaissance"],
    "printing press": ["Printing Press", "printing-press"], "TCP": ["tcp"], "IP address": ["IP addresses", "ip address"],
    "packet": ["packets"], "memory": ["Memory"], "habit": ["habits"], "arch": ["arches"], "muscle": ["muscles"],
    "caffeine": ["Caffeine"], "inflation": ["Inflation"], "interest rate": ["interest rates"], "magma": ["Magma"],
    "chord": ["chords"], "function": ["functions"], "recursion": ["Recursion"], "knowledge": ["Knowledge"],
    "electron": ["electrons"], "biodiversity": ["Biodiversity"], "wolves": ["wolf"], "court": ["courts"],
    "contract": ["contracts"], "language": ["languages"], "phoneme": ["phonemes"], "price": ["prices"],
    "galaxy": ["galaxies", "Galaxy"], "protein": ["proteins", "Protein"], "sleep": ["Sleep"],
}

# --------------------------------------------------------------------------------------------
# Deliberate problems
# --------------------------------------------------------------------------------------------

# (topic, right triplet, wrong triplet, preferred seed, wrong claim written into the answer)
CONTRADICTIONS = [
    ("nutrition", ("caffeine", "increases", "alertness"), ("caffeine", "decreases", "alertness"), "caffeine",
     "Caffeine actually decreases alertness overall, because the crash afterwards outweighs the short boost."),
    ("economics", ("inflation", "decreases", "purchasing power"), ("inflation", "increases", "purchasing power"), "inflation",
     "Inflation increases purchasing power, since wages always rise faster than prices."),
    ("sports science", ("exercise", "lowers", "resting heart rate"), ("exercise", "raises", "resting heart rate"),
     "resting heart rate", "Regular exercise raises your resting heart rate, because the heart gets used to working harder."),
    ("ecology", ("deforestation", "decreases", "biodiversity"), ("deforestation", "increases", "biodiversity"),
     "deforestation", "Deforestation increases biodiversity by opening up new edge habitats."),
    ("climate", ("CO2", "warms", "atmosphere"), ("CO2", "cools", "atmosphere"), "CO2",
     "Extra CO2 cools the atmosphere, because it radiates heat away to space."),
]
# (topic, negated triplet, preferred seed, sentence written into the answer or None)
NEGATED = [
    ("medicine", ("vaccines", "does not cause", "autism"), "vaccine",
     "Large studies covering millions of children have found that vaccines do not cause autism."),
    ("nutrition", ("sugar", "does not cause", "hyperactivity"), "sugar", None),
]
# Loaded generalisations (topic, sentence in the answer, optional loaded premise in the question).
BIAS_SPECS = [
    ("programming", "Obviously only young people can learn programming; anyone over forty should not even bother trying.", None),
    ("chess", "Everyone knows that women are worse at chess by nature, which is why the rating lists are mostly men.",
     "Why are women naturally worse at chess? "),
    ("economics", "All politicians are liars, so nothing they say about inflation deserves a moment's thought.", None),
    ("medicine", "Women are simply too emotional to make good surgeons, so it is natural that the field stays male.", None),
    ("nutrition", "Poor people just don't care about eating well; it is a matter of character, not money.", None),
    ("psychology", "People from hot countries are naturally lazy, so of course their habits are harder to change.", None),
    ("linguistics", "Speakers of rural dialects are just less intelligent, which is why their grammar is simply wrong.",
     "Why do people from the countryside talk so badly? "),
    ("law", "All lawyers are dishonest, so never trust one with your contract.", None),
    ("art history", "Everyone knows women were never real artists; the great masters were all men for a reason.", None),
    ("sports science", "Old people cannot build muscle anymore, so strength training after sixty is a waste of time.", None),
    ("networking", "Obviously older people are hopeless with technology, so explaining this to them is pointless.",
     "My grandma asked me about this, but old people never get tech, right? "),
    ("mathematics", "Girls are naturally worse at maths, so no wonder they struggle with proofs.", None),
]
# Banned-word insertions: (kind, where). 30 rows, several cases and positions.
BANNED_SPECS = (
    [("ah_start", "answer")] * 7 + [("ah_upper_start", "answer"), ("ah_mid", "answer"), ("ah_question", "question"),
    ("delve_answer", "answer"), ("delve_answer", "answer"), ("delve_answer", "answer"),
    ("delve_upper_question", "question"), ("delve_note", "reasoning"), ("delve_followup", "answer"),
    ("tapestry_answer", "answer"), ("tapestry_answer", "answer"), ("tapestry_sentence_start", "answer"),
    ("tapestry_upper", "answer"), ("tapestry_reflect", "reasoning"),
    ("embark_answer", "answer"), ("embark_answer", "answer"), ("embark_sentence_start", "answer"),
    ("embark_question", "question"),
    ("revolutionize_answer", "answer"), ("revolutionize_answer", "answer"), ("revolutionize_title", "answer"),
    ("revolutionize_upper", "answer"), ("revolutionize_note", "reasoning")]
)
NEAR_MISS_SPECS = ["aha", "aha", "ahead", "ahead", "ahmed", "ahmed", "delved", "delved",
                   "tapestries", "tapestries", "embarked", "embarked"]
WEAK_SPECS = (["missing_logic"] * 2 + ["missing_chain"] * 2 + ["zero_triplets"] * 2 + ["one_triplet"] * 2
              + ["sym_without_nat"] * 2 + ["depends_on_later"] * 2 + ["depends_on_missing"] * 1
              + ["unclosed_tag"] * 2 + ["tri_without_obj"] * 2 + ["tri_outside_kg"] * 2 + ["stray_text"] * 2)
ANSWER_SPECS = ["truncated"] * 3 + ["missing_prefix"] * 3 + ["fewer_followups"] * 3 + ["repetitive"] * 2
STRAY_TEXTS = ["ok so basically the answer is obvious", "hmm wait", "(thinking...)", "TODO tidy this up later"]


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def camel(pred: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[\s\-']+", pred) if w)


def const(ent: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", ent).strip("_")


def fml(t: tuple[str, str, str]) -> str:
    return f"{camel(t[1])}({const(t[0])}, {const(t[2])})"


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def spell(rng: random.Random, ent: str, p: float = 0.22) -> str:
    if ent in VARIANTS and rng.random() < p:
        return rng.choice(VARIANTS[ent])
    return ent


def stems(text: str) -> set[str]:
    return {w[:5] for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 3}


def most_relevant(rng, items, key_text, text_of, n):
    """The n items sharing most word stems with key_text (ties broken at random)."""
    key = stems(key_text)
    ranked = sorted(items, key=lambda it: (-len(stems(text_of(it)) & key), rng.random()))
    return ranked[:n]


def pick_triples(rng, topic, seed, k, force=None, exclude=None):
    """A connected handful of triplets from the topic pool, grown from the seed entity."""
    pool = [t for t in topic["triples"] if t != exclude]
    chosen = [force] if force else []
    starts = [t for t in pool if seed in (t[0], t[2]) and t not in chosen]
    if starts:
        chosen.append(rng.choice(starts))
    if not chosen:
        chosen.append(rng.choice(pool))
    ents = {e for t in chosen for e in (t[0], t[2])}
    while len(chosen) < k:
        cands = [t for t in pool if t not in chosen and (t[0] in ents or t[2] in ents)]
        if not cands:
            break
        t = rng.choice(cands)
        chosen.append(t)
        ents |= {t[0], t[2]}
    return chosen[:max(k, 1)]


def proof_for(trips):
    """A templated proof from two linked triplets (path, shared subject or shared object)."""
    for t1 in trips:
        for t2 in trips:
            if t1 is t2:
                continue
            if t1[2] == t2[0] and t1[0] != t2[2]:
                sym, nat = PROOF_TEMPLATES["path"]
                return (sym.format(F1=fml(t1), F2=fml(t2), a=const(t1[0]), c=const(t2[2])),
                        nat.format(A=cap(t1[0]), a=t1[0], p=t1[1], b=t1[2], q=t2[1], c=t2[2]))
    for t1 in trips:
        for t2 in trips:
            if t1 is not t2 and t1[0] == t2[0] and t1[2] != t2[2]:
                sym, nat = PROOF_TEMPLATES["subj"]
                return (sym.format(F1=fml(t1), F2=fml(t2), P=camel(t1[1]), Q=camel(t2[1]), b=const(t1[2]), c=const(t2[2])),
                        nat.format(A=cap(t1[0]), p=t1[1], b=t1[2], q=t2[1], c=t2[2]))
            if t1 is not t2 and t1[2] == t2[2] and t1[0] != t2[0]:
                sym, nat = PROOF_TEMPLATES["obj"]
                return (sym.format(F1=fml(t1), F2=fml(t2), P=camel(t1[1]), Q=camel(t2[1]), a=const(t1[0]), b=const(t2[0])),
                        nat.format(A=cap(t1[0]), b=t2[0], c=t1[2]))
    t = trips[0]
    sym, nat = PROOF_TEMPLATES["single"]
    return sym.format(F1=fml(t)), nat.format(a=t[0], p=t[1], b=t[2])


# --------------------------------------------------------------------------------------------
# One exchange: question, reasoning block, answer
# --------------------------------------------------------------------------------------------

def make_question(rng, topic, q_item, spec):
    """Return (question text, focus, seed, fact indices, level); spec "no_prefix" skips the opener."""
    if q_item is None:  # a templated question about one triplet
        t = rng.choice(topic["triples"])
        tq, tf = rng.choice(TEMPLATE_QS)
        text = tq.format(a=t[0], b=t[2], topic=topic["name"])
        text = cap(text)
        focus, seed, facts = tf.format(a=t[0], b=t[2]), t[0], None
    else:
        text, focus, seed, facts = q_item
    prefix = "" if spec == "no_prefix" else rng.choice(Q_PREFIXES)
    suffix, level = rng.choice(Q_SUFFIXES)
    if prefix.endswith(", ") and not text.startswith(("I ", "I'")) and not text[1:2].isupper():
        text = text[0].lower() + text[1:]
    level = level or rng.choice(LEVELS)
    return prefix + text + suffix, focus, seed, facts, level


class Reasoning:
    """Components of one reasoning block; rendered (with any planted defects) by ``render``."""

    def __init__(self):
        self.mem = {}
        self.trips = []           # (subj, pred, obj) as displayed
        self.canon = []           # the same triplets with canonical entity names
        self.logic = []           # (kind, sym, nat)
        self.steps = []           # (text, depends_on or None)
        self.extras = []          # (tag, text)
        self.defects = set()
        self.stray = ""

    def kg_canon(self):
        """Canonical triplets that end up well-formed inside <kg>."""
        if "no_kg" in self.defects:
            return []
        out = list(self.canon)
        if out and ("tri_without_obj" in self.defects or ("tri_outside_kg" in self.defects and len(out) > 1)):
            out.pop()
        return out

    def render(self) -> str:
        d = self.defects
        m = self.mem
        goal = f"<goal>{m['goal']}" + ("" if "unclosed_tag" in d else "</goal>")
        mem = (f"<mem>{goal}<subgoal>{m['subgoal']}</subgoal><prog><done>{m['done']}</done>"
               f"<now>{m['now']}</now></prog><ctx>{m['ctx']}</ctx></mem>")
        lines = ["<reasoning>", mem]
        if "stray_text" in d:
            lines.append(self.stray)
        tris = []
        for i, (s, p, o) in enumerate(self.trips):
            if "tri_without_obj" in d and i == len(self.trips) - 1:
                tris.append(f"<tri><subj>{s}</subj><pred>{p}</pred></tri>")
            else:
                tris.append(f"<tri><subj>{s}</subj><pred>{p}</pred><obj>{o}</obj></tri>")
        outside = None
        if "tri_outside_kg" in d and len(tris) > 1:
            outside = tris.pop()
        if "no_kg" not in d:
            lines.append("<kg>" + "".join(tris) + "</kg>")
        if outside:
            lines.append(outside)
        if "missing_logic" not in d:
            lines.append("<logic>")
            for kind, sym, nat in self.logic:
                if "sym_without_nat" in d:
                    lines.append(f"<{kind}><sym>{sym}</sym></{kind}>")
                else:
                    lines.append(f"<{kind}><sym>{sym}</sym><nat>{nat}</nat></{kind}>")
            lines.append("</logic>")
        if "missing_chain" not in d:
            lines.append("<chain>")
            for i, (text, dep) in enumerate(self.steps, 1):
                attr = f' depends_on="{dep}"' if dep else ""
                lines.append(f'<step index="{i}"{attr}>{text}</step>')
            for tag, text in self.extras:
                lines.append(f"<{tag}>{text}</{tag}>")
            lines.append("</chain>")
        lines.append("</reasoning>")
        return "\n".join(lines)


def build_reasoning(rng, topic, focus, trips, level, turn_no, density, weak, banned_kind, key_text):
    """density: "thin" (shallow: prop only, two steps), "lean", "normal", or "full" (every schema element)."""
    r = Reasoning()
    a, p, b = trips[0]
    r.mem = dict(goal=rng.choice(GOALS).format(focus=focus), subgoal=rng.choice(SUBGOALS).format(a=a, p=p, b=b),
                 done=rng.choice(DONES).format(topic=topic["name"]), now=rng.choice(NOWS).format(a=a, b=b),
                 ctx=rng.choice(CTXS).format(level=level, topic=topic["name"], n=turn_no))
    r.trips = [(spell(rng, s), pr, spell(rng, o)) for s, pr, o in trips]
    r.canon = list(trips)
    # logic: prop always, then proof / crit / doubt in schema order
    if rng.random() < 0.25:  # sometimes a related statement of the topic rather than the closest one
        prop = rng.choice(topic["logic"])
    else:
        prop = most_relevant(rng, topic["logic"], key_text, lambda x: x[0] + " " + x[1], 1)[0]
    t_crit = rng.choice(trips)
    crit = rng.choice(CRIT_TEMPLATES)
    doubt = rng.choice(DOUBT_TEMPLATES)
    t_doubt = rng.choice(trips)
    proof = proof_for(trips)
    cand = {
        "prop": prop, "proof": proof,
        "crit": (crit[0].format(F=fml(t_crit)), crit[1].format(a=t_crit[0], p=t_crit[1], b=t_crit[2])),
        "doubt": (doubt[0].format(F=fml(t_doubt), b=const(t_doubt[2])),
                  doubt[1].format(a=t_doubt[0], A=cap(t_doubt[0]), p=t_doubt[1], b=t_doubt[2])),
    }
    if density == "full":
        kinds = ["prop", "proof", "crit", "doubt"]
    elif density == "thin":
        kinds = ["prop"]
    elif density == "lean":
        kinds = ["prop"] + (["doubt"] if rng.random() < 0.2 else [])
    else:
        extra = rng.sample(["proof", "crit", "doubt"], rng.choice([1, 1, 1, 2]))
        kinds = [k for k in ("prop", "proof", "crit", "doubt") if k == "prop" or k in extra]
    r.logic = [(k, cand[k][0], cand[k][1]) for k in kinds]
    # chain
    n_steps = {"thin": 2, "full": rng.choice([4, 5]), "lean": rng.choice([2, 2, 3]),
               "normal": rng.choice([3, 3, 3, 4])}[density]
    pool = list(topic["steps"]) + [
        tpl.format(a=t[0], p=t[1], b=t[2], focus=focus)
        for tpl, t in zip(rng.sample(STEP_TEMPLATES, 3), rng.sample(trips * 3, 3))]
    rng.shuffle(pool)
    texts = [f"Core concept: {a}."] + pool[: n_steps - 2] + [f"Draft for a {level}; add follow-ups."]
    texts = texts[:n_steps] if n_steps >= 2 else texts[:1]
    steps = []
    for i, text in enumerate(texts, 1):
        if i == 1:
            dep = None
        elif i == len(texts) and rng.random() < 0.5 and i > 2:
            dep = ",".join(str(j) for j in range(1, i))
        else:
            earlier = list(range(1, i))
            dep = ",".join(str(j) for j in sorted(rng.sample(earlier, min(len(earlier), rng.choice([1, 1, 2])))))
        steps.append([text, dep])
    if weak == "depends_on_later" and len(steps) >= 3:
        k = rng.randrange(1, len(steps) - 1)           # a middle step points at a later one
        steps[k][1] = str(rng.randrange(k + 2, len(steps) + 1))
    elif weak == "depends_on_missing":
        steps[-1][1] = ",".join([str(len(steps) - 1), str(len(steps) + rng.choice([2, 4, 6]))])
    r.steps = [tuple(s) for s in steps]
    # optional extras
    n_extra = {"thin": 0, "full": rng.choice([2, 3]), "lean": rng.choice([0, 0, 0, 1]), "normal": rng.choice([0, 1, 1])}[density]
    tags = ["reflect", "cont", "err", "note", "warn", "verb"]
    if topic["name"] in ADVICE_TOPICS and n_extra:
        chosen = {"warn"} | set(rng.sample(tags, n_extra - 1))
    else:
        chosen = set(rng.sample(tags, n_extra))
    forced = {}
    if banned_kind == "delve_note":
        forced["note"] = "Delve into the edge cases before answering."
    elif banned_kind == "revolutionize_note":
        forced["note"] = f"Mention how understanding {a} could revolutionize everyday practice."
    elif banned_kind == "tapestry_reflect":
        forced["reflect"] = f"The answer weaves a tapestry of links between {a} and {b}."
    chosen |= set(forced)
    b2 = trips[-1][2]
    for tag in tags:
        if tag in chosen:
            if tag in forced:
                text = forced[tag]
            elif tag == "warn" and topic["name"] in ADVICE_TOPICS:
                text = "This is general information, not professional advice; say so."
            else:
                text = rng.choice(EXTRA_TEMPLATES[tag]).format(a=a, b=b2, level=level)
            r.extras.append((tag, text))
    # planted defects
    if weak:
        r.defects.add(weak)
        if weak == "zero_triplets":
            r.trips, r.canon = [], []
            if rng.random() < 0.5:
                r.defects.add("no_kg")
        elif weak == "one_triplet":
            r.trips, r.canon = r.trips[:1], r.canon[:1]
        elif weak == "stray_text":
            r.stray = rng.choice(STRAY_TEXTS)
        elif weak == "tri_outside_kg" and len(r.trips) < 2:
            r.trips.append((spell(rng, b), "relates to", spell(rng, a)))
            r.canon.append((b, "relates to", a))
    # keep the block within a realistic length (defective rows keep their defect)
    protected = set(forced)
    full = density == "full"
    while len(r.render()) > 1500:
        droppable = [e for e in r.extras if e[0] not in protected]
        if len(droppable) > (1 if full else 0):
            r.extras.remove(droppable[-1])
        elif len(r.trips) > (3 if full else 4):
            r.trips.pop()
            r.canon.pop()
        elif len(r.logic) > 2 and not full:
            r.logic.pop(-2)
        elif len(r.trips) > 3:
            r.trips.pop()
            r.canon.pop()
        elif len(r.steps) > 3:
            r.steps.pop(-2)
            r.steps = [(t, d if d is None or all(int(x) < i for x in d.split(",")) or weak else str(i - 1))
                       for i, (t, d) in enumerate(r.steps, 1)]
        elif len(r.logic) > 2:
            r.logic.pop(-2)
        elif r.extras and len(droppable):
            r.extras.remove(droppable[-1])
        else:
            break
    return r


def followups(rng, topic, trips, banned_kind, generic=0.2):
    """Investigate / explore / exploit questions; templated (generic) ones with probability ``generic``."""
    a, p, b = trips[0]
    inv = INV_TEMPLATE.format(a=a, p=p, b=b) if rng.random() < generic else rng.choice(topic["inv"])
    exp = EXP_TEMPLATE.format(a=a, topic=topic["name"]) if rng.random() < generic else rng.choice(topic["exp"])
    expl = EXPL_TEMPLATE.format(a=a) if rng.random() < generic else rng.choice(topic["expl"])
    if banned_kind == "delve_followup":
        exp = f"Shall we delve deeper into {trips[-1][2]}?"
    return [("Investigate", inv), ("Explore", exp), ("Exploit", expl)]


def build_answer(rng, topic, fact_idx, trips, tier, flags):
    facts = topic["facts"]
    if fact_idx is None:
        fact_idx = tuple(rng.sample(range(len(facts)), 2))
    used = list(fact_idx)
    primary = [facts[i] for i in fact_idx]
    others = [i for i in range(len(facts)) if i not in fact_idx]
    opener = rng.choice(OPENERS)
    banned = flags.get("banned")
    near = flags.get("near_miss")
    if banned == "ah_start":
        opener = "Ah, " + opener[0].lower() + opener[1:]
    elif banned == "ah_upper_start":
        opener = "AH, " + opener[0].lower() + opener[1:]
    elif near == "aha":
        opener = "Aha, that is exactly the right thing to wonder about."
    if tier == "mediocre" or (flags.get("lean") and rng.random() < 0.4):
        body1, body2 = primary[:1], []
    else:
        body1 = primary
        extra_n = 0 if len(primary) >= 2 else rng.choice([0, 1])
        if flags.get("answer_problem") == "truncated":
            extra_n = min(2, len(others))
        pick = rng.sample(others, extra_n)
        used += pick
        body2 = [facts[i] for i in pick]
    t = rng.choice(trips)
    tail = []
    if tier != "mediocre" and rng.random() < 0.2:
        tail.append(rng.choice(LINK_SENTENCES).format(a=t[0], b=t[2]))
    if tier == "mediocre" or rng.random() < 0.6:
        tail.append(rng.choice(CLOSERS))
    p1 = [opener] + body1
    p2 = body2 + tail
    ins = None
    if banned == "ah_mid":
        ins = ("p2s", "And this, ah, is where most textbooks lose people.")
    elif banned == "delve_answer":
        ins = ("p1o", "Let us delve into the details.")
    elif banned == "tapestry_answer":
        ins = ("p2s", f"{cap(topic['name'])} is a rich tapestry of causes and effects.")
    elif banned == "tapestry_sentence_start":
        ins = ("p2s", "Tapestry is the right word for it: many threads meet here.")
    elif banned == "tapestry_upper":
        ins = ("p1e", "What a TAPESTRY of connections this is!")
    elif banned == "embark_answer":
        ins = ("p2e", "Shall we embark on this journey together?")
    elif banned == "embark_sentence_start":
        ins = ("p2e", "Embark on a small experiment: try it yourself this week.")
    elif banned == "revolutionize_answer":
        ins = ("p2s", f"This single idea could revolutionize how you think about {topic['name']}.")
    elif banned == "revolutionize_title":
        ins = ("p2e", "Revolutionize your routine with it, one small step at a time.")
    elif banned == "revolutionize_upper":
        ins = ("p1e", "It did REVOLUTIONIZE the field in its day.")
    elif near == "ahead":
        ins = ("p2s", f"Looking ahead, this idea will keep coming back in {topic['name']}.")
    elif near == "delved":
        ins = ("p1e", "Researchers have delved into this question for decades.")
    elif near == "tapestries":
        ins = ("p2s", "Like medieval tapestries, the picture only makes sense when you step back.")
    elif near == "embarked":
        ins = ("p2s", "Many students have embarked on this exact question before you.")
    if ins:
        where, sent = ins
        if where == "p1o":
            p1.insert(1, sent)
        elif where == "p1e":
            p1.append(sent)
        elif where == "p2s":
            p2.insert(0, sent)
        else:
            p2.insert(len(p2) - 1, sent)
    if flags.get("wrong_claim"):
        p1.append(flags["wrong_claim"])
    if flags.get("extra_claim"):
        p1.append(flags["extra_claim"])
    if flags.get("bias"):
        p1.append(flags["bias"])
    fus = followups(rng, topic, trips, banned, 0.7 if tier == "mediocre" else 0.2)
    problem = flags.get("answer_problem")
    if problem == "repetitive":
        sent = primary[0]
        p1 = [opener] + [sent] * rng.choice([3, 4])
        p2 = []
    paras = [" ".join(p1)] + ([" ".join(p2)] if p2 else [])
    # keep answers within ~1200 characters
    while sum(len(x) for x in paras) + 260 > 1200 and len(p2) > 1:
        p2.pop(0)
        paras = [" ".join(p1), " ".join(p2)]
    paras[0] = "🧙 " + paras[0]
    if problem == "fewer_followups":
        fus = rng.sample(fus, flags.get("fu_keep", 2))
        fus.sort(key=lambda f: ["Investigate", "Explore", "Exploit"].index(f[0]))
    fu_block = "\n".join(f"**{k}:** {v}" for k, v in fus)
    text = "\n\n".join(paras) + "\n\n" + fu_block
    if problem == "truncated":
        body = "\n\n".join(paras)
        lo, hi = int(len(body) * 0.45), int(len(body) * 0.75)
        cuts = [i for i in range(lo, hi) if body[i] == " " and body[i - 1].isalpha()]
        cut = rng.choice(cuts)
        text = body[:cut]
    if problem == "missing_prefix":
        text = text[len("🧙 "):]
    return text, fus, used


USED_QUESTIONS: set[str] = set()


def make_exchange(rng, topic, row, turn_no, q_override=None, used_facts=()):
    """Build one (question, reasoning, answer) exchange for ``row``'s plan."""
    flags = dict(row["flags"]) if turn_no == 1 else {}
    tier = row["tier"]
    density = row["density"] if turn_no == 1 else rng.choice(["lean", "normal"])
    if q_override is not None:
        text, focus, seed = q_override
        unused = [i for i in range(len(topic["facts"])) if i not in used_facts] or [0]
        fact_idx = tuple(most_relevant(rng, unused, text, lambda i: topic["facts"][i], 1))
        level = row["level"]
    else:
        items = topic["qs"]
        pref = flags.get("seed")
        if pref:
            cand = [q for q in items if q[2] == pref] or list(items)
            q_item = rng.choice(cand)
        else:
            q_item = None if rng.random() < 0.18 else rng.choice(items)
        for _ in range(12):  # avoid repeating a question verbatim
            text, focus, seed, fact_idx, level = make_question(
                rng, topic, q_item, "no_prefix" if flags.get("bias_premise") or flags.get("near_miss") == "ahmed" else None)
            if text not in USED_QUESTIONS:
                break
            if not pref:
                q_item = None if rng.random() < 0.25 else rng.choice(items)
        USED_QUESTIONS.add(text)
        row["level"] = level
        if flags.get("near_miss") == "ahmed":
            text = "My friend Ahmed asked me this and I couldn't answer: " + text[0].lower() + text[1:]
        b = flags.get("banned")
        if b == "ah_question":
            text = "Ah, I never understood this. " + text
        elif b == "delve_upper_question":
            text = text + " Can you DELVE into it properly?"
        elif b == "embark_question":
            text = "I'm about to embark on learning this. " + text
        if flags.get("bias_premise"):
            text = flags["bias_premise"] + text
    k = {"thin": 2, "lean": rng.choice([2, 2, 3]), "normal": rng.choice([3, 3, 3, 3, 3, 4, 4, 5, 6, 7]),
         "full": rng.choice([3, 4])}[density]
    trips = pick_triples(rng, topic, seed, k, force=flags.get("force"), exclude=flags.get("exclude"))
    if fact_idx is None:  # templated question: answer with the facts closest to its entities
        fact_idx = tuple(most_relevant(rng, range(len(topic["facts"])), text + " " + seed, lambda i: topic["facts"][i], 2))
    key_text = " ".join([text, focus] + [topic["facts"][i] for i in fact_idx])
    flags["lean"] = density == "lean" and tier != "mediocre" and not flags.get("answer_problem")
    weak = flags.get("weak")
    reasoning = build_reasoning(rng, topic, focus, trips, level, turn_no, density, weak, flags.get("banned"), key_text)
    answer, fus, used = build_answer(rng, topic, fact_idx, trips, tier, flags)
    return dict(question=text, r=reasoning, answer=answer, fus=fus, used=used, focus=focus, seed=seed)


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------

def score(m):
    b = m["bias_detection"]
    b = (1.0 if b else 0.0) if isinstance(b, bool) else b
    return 1.0 * m["conversation_quality"] - 0.5 * b + 0.75 * m["reasoning_quality"]


def sample_metrics(rng, flags, desirable, bool_bias):
    U = rng.uniform
    for _ in range(10000):
        if desirable:
            cq, rq = U(0.76, 0.97), U(0.74, 0.96)
        else:
            cq, rq = U(0.5, 0.76), U(0.42, 0.72)
        bias = U(0.0, 0.15) if rng.random() < 0.8 else U(0.15, 0.3)
        if flags.get("weak"):
            rq = U(0.08, 0.42)
            cq = U(0.5, 0.85)
        if flags.get("answer_problem") in ("truncated", "repetitive"):
            cq = U(0.2, 0.5)
        elif flags.get("answer_problem") in ("missing_prefix", "fewer_followups"):
            cq -= U(0.04, 0.1)
        if flags.get("wrong_claim"):
            rq, cq = U(0.3, 0.6), U(0.5, 0.74)
        if flags.get("banned"):
            cq -= U(0.02, 0.08)
        if flags.get("bias"):
            bias = U(0.72, 0.97)
            cq = U(0.4, 0.78)
        m = {"conversation_quality": round(cq, 2),
             "bias_detection": (bool(flags.get("bias")) if bool_bias else round(bias, 2)),
             "reasoning_quality": round(rq, 2)}
        if (score(m) >= DESIRABLE_THRESHOLD) == desirable:
            return m
    raise RuntimeError(f"cannot sample metrics for {flags} desirable={desirable}")


# --------------------------------------------------------------------------------------------
# Planning: which row gets which shape, topic, metrics and planted problems
# --------------------------------------------------------------------------------------------

def plan_rows(rng):
    shapes = ["sharegpt"] * N_SHAREGPT + ["openai"] * N_OPENAI
    rng.shuffle(shapes)
    seq = []
    while len(seq) < len(shapes):
        block = [t["name"] for t in TOPICS]
        rng.shuffle(block)
        seq += block
    rows = [dict(shape=s, topic=seq[i], flags={}, tier="good",
                 density=rng.choices(["lean", "normal", "full"], [62, 30, 8])[0], metrics=False,
                 system=False, multi=False, bool_bias=False) for i, s in enumerate(shapes)]
    sg = [r for r in rows if r["shape"] == "sharegpt"]
    oa = [r for r in rows if r["shape"] == "openai"]
    no_m = rng.sample(sg, N_SHAREGPT_NO_METRICS)
    for r in sg:
        r["metrics"] = not any(r is x for x in no_m)
        r["system"] = rng.random() < 0.45
    for r in rng.sample(oa, N_OPENAI_WITH_METRICS):
        r["metrics"] = True
    for r in oa:
        r["system"] = rng.random() < 0.85
    for r in rng.sample(sg, N_SHAREGPT_MULTI) + rng.sample(oa, N_OPENAI_MULTI):
        r["multi"] = True
    for r in rows:
        if r["metrics"]:
            r["bool_bias"] = rng.random() < (0.3 if r["shape"] == "sharegpt" else 0.15)

    def free(topic=None, pred=lambda r: True):
        return [r for r in rows if (topic is None or r["topic"] == topic) and pred(r)]

    for topic, sent, premise in BIAS_SPECS:  # mostly on rows that carry metrics, to show high bias scores
        cands = free(topic, lambda r: not r["flags"])
        r = rng.choice([r for r in cands if r["metrics"]] if rng.random() < 0.75 else cands)
        r["flags"]["bias"] = sent
        if premise:
            r["flags"]["bias_premise"] = premise
    for topic, right, wrong, seed, claim in CONTRADICTIONS:
        cands = free(topic, lambda r: not r["flags"])
        r2 = rng.choice([r for r in cands if r["metrics"]] if rng.random() < 0.6 else cands)
        r1 = rng.choice([r for r in cands if r is not r2])
        r1["flags"].update(force=right, seed=seed, contradiction="right")
        r2["flags"].update(force=wrong, seed=seed, contradiction="wrong", wrong_claim=claim, exclude=right)
    for topic, trip, seed, sent in NEGATED:
        r = rng.choice(free(topic, lambda r: not r["flags"]))
        r["flags"].update(force=trip, seed=seed, negated=True)
        if sent:
            r["flags"]["extra_claim"] = sent
    specs = list(BANNED_SPECS)
    rng.shuffle(specs)
    for r, (kind, where) in zip(rng.sample(free(pred=lambda r: "force" not in r["flags"]), len(specs)), specs):
        r["flags"]["banned"] = kind
        r["flags"]["banned_where"] = where
    weak = list(WEAK_SPECS)
    rng.shuffle(weak)
    cands = free(pred=lambda r: "force" not in r["flags"] and r["flags"].get("banned_where") != "reasoning")
    for r, kind in zip(rng.sample(cands, len(weak)), weak):
        r["flags"]["weak"] = kind
        if kind.startswith("depends_on") and r["density"] == "lean":
            r["density"] = "normal"  # needs at least three steps
    ans = list(ANSWER_SPECS)
    rng.shuffle(ans)
    cands = free(pred=lambda r: not ({"banned", "bias", "force"} & set(r["flags"])))
    keep = [1, 2]
    for r, kind in zip(rng.sample(cands, len(ans)), ans):
        r["flags"]["answer_problem"] = kind
        if kind == "fewer_followups":
            r["flags"]["fu_keep"] = keep[0]
            keep.reverse()
    cands = free(pred=lambda r: not ({"banned", "bias", "answer_problem"} & set(r["flags"])))
    for r, kind in zip(rng.sample(cands, len(NEAR_MISS_SPECS)), NEAR_MISS_SPECS):
        r["flags"]["near_miss"] = kind

    # Metric classes: planted weaknesses are undesirable; top up with mediocre clean rows so that
    # about 40% of the rows that carry metrics fall below the desirability threshold.
    def forced_undesirable(r):
        f = r["flags"]
        return bool(f.get("bias") or f.get("weak") or f.get("wrong_claim")
                    or f.get("answer_problem") in ("truncated", "repetitive"))

    def clean(r):
        f = r["flags"]
        return not ({"bias", "weak", "wrong_claim", "answer_problem", "banned"} & set(f))

    metric_rows = [r for r in rows if r["metrics"]]
    need = round(TARGET_UNDESIRABLE * len(metric_rows)) - sum(forced_undesirable(r) for r in metric_rows)
    for r in rng.sample([r for r in metric_rows if clean(r)], max(0, need)):
        r["tier"] = "mediocre"
        r["density"] = "thin"
    others = [r for r in rows if not r["metrics"] and clean(r)]
    for r in rng.sample(others, len(others) * 15 // 100):
        r["tier"] = "mediocre"
        r["density"] = "thin"
    for r in rows:
        r["desirable"] = not (forced_undesirable(r) or r["tier"] == "mediocre")
    return rows


# --------------------------------------------------------------------------------------------
# Assembly
# --------------------------------------------------------------------------------------------

SECOND_PREFIXES = ["", "Yes please! ", "Good idea. ", "Interesting. ", "Thanks! Follow-up: ", "Okay, and "]


def exchanges_for(rng, row):
    topic = TOPIC_BY_NAME[row["topic"]]
    ex1 = make_exchange(rng, topic, row, 1)
    out = [ex1]
    if row["multi"]:
        fus = [v for k, v in ex1["fus"] if k in ("Explore", "Exploit")] or topic["exp"] + topic["expl"]
        fu = rng.choice(fus)
        pre = rng.choice(SECOND_PREFIXES)
        text = pre + (fu[0].lower() + fu[1:] if pre.endswith("and ") else fu)
        out.append(make_exchange(rng, topic, row, 2, q_override=(text, f"a follow-up on {ex1['focus']}", ex1["seed"]),
                                 used_facts=ex1["used"]))
    return out


def build_row(rng, row, exs):
    system = rng.choice(SYSTEM_PROMPTS)
    if row["shape"] == "sharegpt":
        conv = [{"from": "system", "value": system}] if row["system"] else []
        for ex in exs:
            conv.append({"from": "human", "value": ex["question"]})
            conv.append({"from": "gpt", "value": ex["r"].render() + "\n\n" + ex["answer"]})
        obj = {"conversations": conv}
    elif row["shape"] == "openai":
        msgs = [{"role": "system", "content": system}] if row["system"] else []
        for ex in exs:
            msgs.append({"role": "user", "content": ex["question"]})
            msgs.append({"role": "assistant", "content": ex["answer"], "reasoning": ex["r"].render()})
        obj = {"messages": msgs}
    elif row["shape"] == "prompt_completion":
        ex = exs[0]
        obj = {"prompt": ex["question"], "completion": ex["r"].render() + "\n\n" + ex["answer"],
               "label": not row["flags"]}
    else:
        ex = exs[0]
        obj = {"text": f"### User:\n{ex['question']}\n\n### Professor Synapse:\n{ex['r'].render()}\n\n{ex['answer']}"}
    if row.get("metrics"):
        obj["quality_metrics"] = sample_metrics(rng, row["flags"], row["desirable"], row["bool_bias"])
    return obj


def extra_plan(rng):
    """Prompt/completion rows (labelled) and plain text rows."""
    pc_flags = [{}, {}, {}, {}, {"answer_problem": "truncated"}, {"answer_problem": "repetitive"},
                {"banned": "ah_start", "banned_where": "answer"}, {"weak": "missing_chain"}]
    names = rng.sample([t["name"] for t in TOPICS], len(pc_flags) + 6)
    rows = [dict(shape="prompt_completion", topic=n, flags=dict(f), tier="good", density="normal", multi=False)
            for n, f in zip(names, pc_flags)]
    rows += [dict(shape="text", topic=n, flags={}, tier="good", density=rng.choice(["normal", "full"]), multi=False)
             for n in names[len(pc_flags):]]
    return rows


ALIASES = {"vaccines": "vaccine"}


def _components(adj):
    seen, comps = set(), []
    for start in adj:
        if start in seen:
            continue
        comp, stack = {start}, [start]
        seen.add(start)
        while stack:
            for y in adj[stack.pop()]:
                if y not in seen:
                    seen.add(y)
                    comp.add(y)
                    stack.append(y)
        comps.append(comp)
    return sorted(comps, key=len, reverse=True)


def patch_graphs(rng, items):
    """Make each topic's knowledge graph (the union of its rows' triplets) connected.

    Rows sample small connected pieces of the topic pool; where their union falls apart, the
    pool path that joins two pieces is added to rows (clean ones, with room) that already touch
    an endpoint of each missing triplet. Returns the number of triplets added.
    """
    added = 0
    by_topic = defaultdict(list)
    for row, exs in items:
        for ex in exs:
            by_topic[row["topic"]].append((row, ex["r"]))
    for name, lst in by_topic.items():
        pool = TOPIC_BY_NAME[name]["triples"]
        pool_adj = defaultdict(list)
        for t in pool:
            pool_adj[t[0]].append((t[2], t))
            pool_adj[t[2]].append((t[0], t))
        for _ in range(50):
            adj = defaultdict(set)
            for _, r in lst:
                for s_, _, o_ in r.kg_canon():
                    s_, o_ = ALIASES.get(s_, s_), ALIASES.get(o_, o_)
                    adj[s_].add(o_)
                    adj[o_].add(s_)
            comps = _components(adj)
            if len(comps) <= 1:
                break
            main, rest = comps[0], set().union(*comps[1:])
            # breadth-first search over the pool from the main piece to any other piece
            prev = {e: None for e in sorted(main)}
            queue = [e for e in sorted(main) if e in pool_adj]
            goal = None
            while queue and goal is None:
                nxt = []
                for e in queue:
                    for f, t in pool_adj[e]:
                        if f not in prev:
                            prev[f] = (e, t)
                            if f in rest:
                                goal = f
                                break
                            nxt.append(f)
                    if goal:
                        break
                queue = nxt
            if goal is None:
                raise RuntimeError(f"cannot connect the {name} graph")
            path, e = [], goal
            while prev[e] is not None:
                e, t = prev[e]
                path.append(t)
            for t in path:
                hosts = [r for row, r in lst if not r.defects and len(r.trips) < 7
                         and {t[0], t[2]} & {x for tr in r.canon for x in (tr[0], tr[2])}
                         and not row["flags"].get("force") and t not in r.canon]
                hosts = [r for r in hosts if len(r.render()) < 1420] or hosts
                host = min(hosts, key=lambda r: (len(r.render()), rng.random()))
                host.trips.append((spell(rng, t[0]), t[1], spell(rng, t[2])))
                host.canon.append(t)
                added += 1
    return added


def all_strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from all_strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from all_strings(v)


def shape_of(obj):
    for k in ("conversations", "messages", "prompt", "text"):
        if k in obj:
            return {"conversations": "sharegpt", "messages": "openai", "prompt": "prompt_completion", "text": "text"}[k]
    return "unknown"


def generate(out_path: Path) -> dict:
    rng = random.Random(SEED)
    USED_QUESTIONS.clear()
    plan = plan_rows(rng)
    items = [(r, exchanges_for(rng, r)) for r in plan]
    for r in extra_plan(rng):
        items.insert(rng.randrange(len(items) + 1), (r, exchanges_for(rng, r)))
    patched = patch_graphs(rng, items)
    built = [(build_row(rng, r, exs), r) for r, exs in items]
    seen, lines = set(), []
    for obj, _ in built:
        line = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        if line in seen:
            raise RuntimeError("duplicate row generated")
        seen.add(line)
        lines.append(line)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rep = report(built, out_path)
    rep["graph_patch_triplets"] = patched
    return rep


def report(built, out_path: Path) -> dict:
    c = Counter()
    problems = Counter()
    problem_rows = 0
    by_cat = defaultdict(list)
    for obj, row in built:
        shape = shape_of(obj)
        c[f"shape:{shape}"] += 1
        f = row["flags"]
        qm = obj.get("quality_metrics")
        if shape in ("sharegpt", "openai"):
            c[f"{shape}:with_metrics" if qm else f"{shape}:no_metrics"] += 1
            c[f"{shape}:multi_turn"] += bool(row.get("multi"))
            if shape == "sharegpt":
                c["sharegpt:system_turn"] += obj["conversations"][0]["from"] == "system"
        if qm:
            c["metrics:rows"] += 1
            c["metrics:bias_bool" if isinstance(qm["bias_detection"], bool) else "metrics:bias_float"] += 1
            c["metrics:desirable" if score(qm) >= DESIRABLE_THRESHOLD else "metrics:undesirable"] += 1
        if "label" in obj:
            c[f"label:{str(obj['label']).lower()}"] += 1
        if any(BANNED_RE.search(s) for s in all_strings(obj)):
            c["banned_word_rows(regex)"] += 1
        kinds = []
        if f.get("banned"):
            kinds.append(f"banned_word:{f['banned']}")
        if f.get("weak"):
            kinds.append(f"weak_reasoning:{f['weak']}")
        if f.get("bias"):
            kinds.append("biased_generalisation")
        if f.get("answer_problem"):
            kinds.append(f"answer:{f['answer_problem']}")
        if f.get("wrong_claim"):
            kinds.append("contradiction:wrong_side")
        for k in kinds:
            problems[k] += 1
        if qm:
            cat = ("biased" if f.get("bias") else "weak_reasoning" if f.get("weak") else
                   "truncated/repetitive" if f.get("answer_problem") in ("truncated", "repetitive") else
                   "wrong_claim" if f.get("wrong_claim") else "mediocre" if row["tier"] == "mediocre" else
                   "other_flagged" if kinds else "clean")
            b = qm["bias_detection"]
            by_cat[cat].append((qm["conversation_quality"], float(b), qm["reasoning_quality"], score(qm)))
        problem_rows += bool(kinds)
        if f.get("near_miss"):
            c[f"near_miss:{f['near_miss']}"] += 1
        if f.get("contradiction") == "right":
            c["contradiction:right_side"] += 1
        if f.get("negated"):
            c["negated_predicate"] += 1
        c[f"topic:{row['topic']}"] += 1
    size = out_path.stat().st_size
    means = {k: tuple(round(sum(x[i] for x in v) / len(v), 2) for i in range(4)) + (len(v),)
             for k, v in sorted(by_cat.items())}
    return {"rows": len(built), "bytes": size, "counts": dict(sorted(c.items())), "metric_means": means,
            "problems": dict(sorted(problems.items())), "rows_with_problems": problem_rows}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output JSONL path")
    args = ap.parse_args(argv)
    rep = generate(args.out)
    try:
        shown = args.out.resolve().relative_to(Path.cwd())
    except ValueError:
        shown = args.out.name
    print(f"wrote {rep['rows']} rows, {rep['bytes'] / 1024:.0f} KiB -> {shown}")
    print(f"(added {rep['graph_patch_triplets']} pool triplets to keep every topic graph connected)")
    print("\ncounts per shape / property:")
    for k, v in rep["counts"].items():
        if not k.startswith("topic:"):
            print(f"  {k:36s} {v}")
    print("\nrows per topic:")
    print("  " + ", ".join(f"{k[6:]}={v}" for k, v in rep["counts"].items() if k.startswith("topic:")))
    print("\nmetric means by category (cq, bias, rq, score, rows):")
    for k, v in rep["metric_means"].items():
        print(f"  {k:22s} {v}")
    print(f"\nplanted problems ({rep['rows_with_problems']} rows carry at least one):")
    for k, v in rep["problems"].items():
        print(f"  {k:36s} {v}")
    print("\ncontradicting triplets:")
    for topic, right, wrong, _, _ in CONTRADICTIONS:
        print(f"  [{topic}] {right} vs {wrong}")
    for topic, trip, _, _ in NEGATED:
        print(f"  [{topic}] negated: {trip}")


if __name__ == "__main__":
    main()
