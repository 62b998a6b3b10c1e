"""Cross-sell recommender: a customer x item confidence matrix, implicit ALS or BPR factors, next_best_offer."""
