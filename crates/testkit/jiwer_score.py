"""jiwer's scores of the (reference, hypothesis) pairs on stdin (JSON list of pairs), for
the tests (rech_testkit::jiwer): per pair and for all pairs together, the word and character error
rates and the counts of hits, substitutions, deletions and insertions.

Usage: jiwer_score.py < PAIRS.json
"""

import json
import sys

import jiwer


def counts(output):
    return {
        # As text, the shortest that reads back to the same double.
        "rate": repr(float(output.wer if hasattr(output, "wer") else output.cer)),
        "hits": output.hits,
        "substitutions": output.substitutions,
        "deletions": output.deletions,
        "insertions": output.insertions,
    }


def main() -> None:
    pairs = json.load(sys.stdin)
    references = [r for r, _ in pairs]
    hypotheses = [h for _, h in pairs]
    print(
        json.dumps(
            {
                "pairs": [
                    {
                        "words": counts(jiwer.process_words(r, h)),
                        "chars": counts(jiwer.process_characters(r, h)),
                    }
                    for r, h in pairs
                ],
                "words": counts(jiwer.process_words(references, hypotheses)),
                "chars": counts(jiwer.process_characters(references, hypotheses)),
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
