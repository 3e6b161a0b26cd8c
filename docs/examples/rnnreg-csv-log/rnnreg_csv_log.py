import csv
from pathlib import Path

import rnnreg
from rnnreg import Observer


class CSVLog(Observer):
    name = "csv"
    description = "Appends every epoch of every job to one CSV file."
    destination = "the CSV file [default: epochs.csv]"

    def epoch_ended(self, event):
        path = Path(self.target or "epochs.csv")
        row = {"run": event.run_name, "epoch": event.epoch, "valid": next(
            v for k, v in event.entry.items() if k.startswith("valid_")), "train_loss": event.entry["train_loss"]}
        with path.open("a", newline="") as out:
            csv.DictWriter(out, fieldnames=list(row)).writerow(row)


@rnnreg.hookimpl
def register_observers(register):
    register(CSVLog)
