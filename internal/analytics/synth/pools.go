package synth

// The sentences of Corpus's calls: ordinary contact-centre talk with no
// topic in it. Numbers are written as words so that what flite says, and
// the duration estimate, do not depend on how it reads digits.

var agentGreetings = []string{
	"Good morning, thank you for calling, my name is Sarah, how can I help you today?",
	"Hello, you're through to customer services, this is Daniel speaking.",
	"Good afternoon, thanks for holding, how may I help?",
	"Hi there, thanks for calling, who am I speaking with?",
	"Thank you for your patience, I'm here now, what can I do for you?",
	"Good evening, you're speaking with Priya, how can I help?",
}

var customerGreetings = []string{
	"Hi, yes, hello, I was hoping you could help me with something.",
	"Hello, I've been on hold for a little while.",
	"Good morning, thanks for picking up.",
	"Hi, my name is Peter Collins.",
	"Hello there, it's Margaret Hughes speaking.",
	"Oh, hello, I wasn't sure I'd get through today.",
}

var agentTurns = []string{
	// Identity and account questions.
	"Can I take your full name, please?",
	"Could you confirm the first line of your address for me?",
	"And what's the postcode there?",
	"Can you give me your date of birth, please?",
	"Do you have your customer number to hand?",
	"Which email address is registered with us?",
	"Is the phone number ending in four five two still the best one to reach you?",
	"Just for security, could you tell me the last three digits of your reference?",
	"How long have you been with us?",
	"Is this the address you'd like us to use for letters?",
	"And is that a house or a flat?",
	"Could you spell your surname for me?",
	"Which account is this about?",
	"When did you last speak to one of my colleagues?",
	"Are you the named person on the agreement?",
	"Can I take a contact number in case we get cut off?",
	// Working on the call.
	"Bear with me one moment while I pull that up.",
	"Let me just have a look at the system.",
	"Thank you, that's all confirmed.",
	"The screen is a little slow today, sorry about that.",
	"I can see your details here now.",
	"Okay, I've made a note of that.",
	"Perfect, that matches what I have.",
	"Could you hold the line for a second?",
	"Thanks for waiting, I'm back with you.",
	"I'll read that back to you to make sure I have it right.",
	"You'll get a confirmation email within the hour.",
	"I've updated the details on your file.",
	"Let me put you on a short hold.",
	"That's no problem at all.",
	"Sorry, you broke up a little there, could you say that again?",
	"I'm just typing that in now.",
	"Right, I've found it.",
	"Is there anything else I can help with today?",
	// Small talk.
	"Lovely weather we're having this week.",
	"Are you keeping busy?",
	"It's been a quiet morning here, to be honest.",
	"Oh, I know that area, it's very nice.",
	"Have you got anything nice planned for the weekend?",
	"My kids have been off school all week, so it's been hectic.",
}

var customerTurns = []string{
	// Answers and addresses.
	"It's twenty two Maple Street.",
	"Flat three, forty one Station Road.",
	"The postcode is S W one A, two A A.",
	"My date of birth is the fourth of March, nineteen eighty five.",
	"It's Collins, C O L L I N S.",
	"My email is peter dot collins at example dot com.",
	"I moved to eighteen Orchard Close last spring.",
	"That's the number ending in seven seven nine.",
	"I think it's been about six years now.",
	"It's a house, the one with the blue door on the corner.",
	"Yes, that's still my mobile.",
	"My account number should be on the letter somewhere.",
	"It's the one in my name, I think.",
	"The reference is seven one four, two nine, eight.",
	"It's ninety six Highfield Avenue, Leeds.",
	// Holding, checking, mishearing.
	"Let me just find my reading glasses.",
	"I've got the letter in front of me now.",
	"Sorry, could you repeat that?",
	"Hang on, I'm just writing this down.",
	"Yes, that's right.",
	"No, I don't think so.",
	"I spoke to someone last Tuesday, I think.",
	"Hold on, the dog is barking.",
	"Sorry, the line is a bit crackly.",
	"Can you say that again a bit slower?",
	"My wife usually deals with this sort of thing.",
	"I'm calling from work, so I have to be quick.",
	"That's fine, take your time.",
	"Okay, I'll wait.",
	"Right, okay, I see.",
	"Hmm, I'm not sure about that.",
	"Could you send that to me in writing?",
	"I didn't get a letter about it.",
	// Small talk.
	"Yes, it's been lovely, we had a walk by the river.",
	"Oh, not much, just visiting my sister.",
	"It's been one of those weeks, you know.",
	"The traffic was terrible this morning.",
	"My grandson is staying with us this week.",
	"I've just got back from holiday, actually.",
	"It's been raining here all day.",
}

var agentClosings = []string{
	"Thanks for calling, have a lovely rest of your day.",
	"You're welcome, take care now, goodbye.",
	"It was a pleasure speaking with you, goodbye.",
	"Lovely, you're all sorted, thanks for calling.",
}

var customerClosings = []string{
	"Great, thank you so much for your help.",
	"Lovely, that's everything, bye now.",
	"Thanks, you've been very helpful, bye.",
	"Okay, brilliant, cheers, bye.",
}

// The sentences a topic phrase is said in; the phrase goes in the braces.
// They are worded to take a phrase of any kind, a verb or a noun.

var agentTopicTemplates = []string{
	"I understand you'd like to talk about {}.",
	"Okay, so this is about {}, is that right?",
	"Just to confirm, you mentioned {}.",
	"I can help with {}, let me check.",
	"Let me make a note of that, {}.",
	"A lot of people ask about {} at the moment.",
}

var customerTopicTemplates = []string{
	"The reason I'm calling is {}.",
	"Honestly, it's about {}.",
	"I was told to ring about {}.",
	"Well, {}, that's really why I called.",
	"Can we talk about {}, please?",
	"My neighbour said I should ask about {}.",
}
