-- One training at a time per account, on every instance: set when a training is
-- admitted (together with the retrain-interval check, in one statement), cleared
-- when its model is saved or it fails. A claim older than ten minutes belongs to a
-- server that died while training and is taken over.
ALTER TABLE users ADD COLUMN training_since timestamptz;
