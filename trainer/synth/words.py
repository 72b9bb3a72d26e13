"""The words the synthesiser draws: beside a number, as clutter, and as strips that
must read as nothing. No word read in evaluation (EVAL_WORDS) is a training word
(tested); clutter shares only unit names (kWh, Hz) between the two sides."""

# The test scenes' clutter (`trainer scenes`).
WORDS = ("METER", "Total", "kWh", "Water", "Serial", "Type", "Model", "Hz", "Volt", "GAS", "Flow", "m3/h")
# Clutter for the detector's training scenes: never the words of the test scenes.
TRAIN_WORDS = ("Power", "Reading", "Unit", "Class", "Made in", "litres", "Pressure", "kVAh", "CE",
               "Phase", "Impulse", "Energy", "Nr.", "Cubic", "ELECTRIC", "bar", "Amp", "Heat")
# Letters a meter shows beside its number; no O, I, l, S, B, Z, g, q that pass for digits.
UNIT_WORDS = ("kWh", "kW", "Wh", "m", "V", "Hz", "kPa", "rev", "NET", "CH", "ft", "x", "W", "h")
# Words a meter or an equipment label prints, for strips that must read as nothing. Many
# hold letters a careless reader takes for digits (l, i, t, o, s, b, z, g): a model whose
# last epoch is mostly handwriting reads the italic word "Model" on a plain panel as 111.
# Neither the test scenes' words nor EVAL_WORDS appear here (tested).
LABEL_WORDS = (
    "Level", "Fuel", "Oil", "Cool", "Boil", "Still", "Fill", "Tilt", "Lot", "Batch", "Size",
    "Zone", "Bolt", "Tall", "Litre", "Liter", "Input", "Output", "Status", "Temp", "Alarm",
    "Low", "High", "Off", "On", "Set", "Test", "Error", "Reset", "Mode", "Start", "Stop",
    "Run", "Hold", "Auto", "Manual", "Date", "Time", "Year", "Tarif", "Import", "Export",
    "Active", "Reactive", "Digital", "Analog", "Strom", "Zahler", "Wasser", "Compteur", "Eau",
    "Gaz", "Lieferant", "Baujahr", "Netz", "Last", "Fault", "Sensor", "Probe",
    "Signal", "Global", "Solo", "Blob", "Lobe", "Isolate", "Tot", "Idol", "Silo", "Bell",
    "Spool", "Gold", "Steel", "Iso", "Class B", "Lot No", "Size S", "Bio", "Logo",
    "Billing", "Consumo", "Lettura", "Medidor", "Agua", "Luz", "Dial", "Load", "Peak", "Daily",
    "Hourly", "Outlet", "Inlet", "Gallons", "Cubic ft", "Therm", "Btu", "Glow",
    "Oslo", "Tilsit", "Toilet", "Lotto", "Zigzag", "Gobbo", "Stolz", "Elektro", "Stadtwerke",
)
TRAINING_WORDS = (*UNIT_WORDS, *TRAIN_WORDS, *LABEL_WORDS)
# Words that must read as nothing: the test scenes' words and more a meter or label
# shows, many with letters that pass for digits (l, o, t, s); no training word, no digit.
EVAL_WORDS = (*(w for w in WORDS if w not in TRAINING_WORDS and w.isalpha()),
              "Label", "Pool", "Soil", "Tool", "Valve", "Gauge", "Coil", "Slot", "Solar", "Limit",
              "Toll", "Idle", "Lobby", "Sale", "Boost", "Pilot", "Outdoor", "Supply", "Lift",
              "Block", "Cycle")
